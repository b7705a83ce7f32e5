"""A reply's delta coalescing (pacer_coach.chat.coalesce, issue 24): the first text at once,
then a window that grows when tokens are sparse, never past its bound.

Driven on a fake clock, tick by tick as the writer's windows would look: which
ticks cut, and how long text was held, are exact.
"""

from __future__ import annotations

import pytest

from pacer_coach.chat.coalesce import DeltaCoalescer

TICK_S = 0.040  # the writer's window (REPLY_FLUSH_MS)
BOUND_S = 0.150  # REPLY_FLUSH_MAX_MS


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _stream(
    clock: Clock, gap_s: float, tokens: int, max_s: float = BOUND_S
) -> list[tuple[int, float]]:
    """Tokens every ``gap_s``, the writer ticking every TICK_S: each cut's (tokens, the
    longest any of its text waited)."""
    text = DeltaCoalescer(base_s=TICK_S, max_s=max_s, flush_bytes=2048, clock=clock)
    arrivals = [clock.now + i * gap_s for i in range(tokens)]
    next_tick = clock.now + TICK_S
    held_since: list[float] = []
    cuts: list[tuple[int, float]] = []

    def cut() -> None:
        count = text.take()[1]
        cuts.append((count, clock.now - held_since[0]))
        held_since.clear()

    for arrival in arrivals:
        while next_tick <= arrival:
            clock.now = next_tick
            if text.due():
                cut()
            next_tick += TICK_S
        clock.now = arrival
        held_since.append(arrival)
        if text.add("word "):
            cut()
    while text.holding:
        clock.now = next_tick
        if text.due():
            cut()
        next_tick += TICK_S
    return cuts


def test_the_first_text_goes_at_once(clock: Clock) -> None:
    cuts = _stream(clock, 0.050, 10)
    assert cuts[0] == (1, 0.0)


def test_sparse_tokens_are_held_longer_but_never_past_the_bound(clock: Clock) -> None:
    # 20 tokens/s: a 40 ms window carried one token an event; now about three.
    cuts = _stream(clock, 0.050, 200)[1:]
    assert sum(count for count, _ in cuts) == 199
    assert sum(count for count, _ in cuts) / len(cuts) >= 2.5
    assert max(waited for _, waited in cuts) <= BOUND_S + 1e-9


def test_dense_tokens_keep_the_writers_window(clock: Clock) -> None:
    # 100 tokens/s: four tokens a 40 ms window, as before coalescing adapted.
    cuts = _stream(clock, 0.010, 400)[1:]
    assert max(waited for _, waited in cuts) <= TICK_S + 1e-9
    assert 3.5 <= sum(count for count, _ in cuts) / len(cuts) <= 4.5


def test_a_bound_at_the_writers_window_turns_growing_off(clock: Clock) -> None:
    cuts = _stream(clock, 0.050, 100, max_s=TICK_S)[1:]
    assert max(count for count, _ in cuts) == 1


def test_a_full_buffer_is_cut_at_once(clock: Clock) -> None:
    text = DeltaCoalescer(base_s=TICK_S, max_s=BOUND_S, flush_bytes=10, clock=clock)
    assert text.add("first ")  # the reply's first text
    text.take()
    assert not text.add("abcd")
    assert text.add("efghij")  # 10 bytes held
    assert text.take() == ("abcdefghij", 2)
