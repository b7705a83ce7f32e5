"""The closing marker's stripper and the Prefer parser, without services."""

from __future__ import annotations

import doctest
import itertools

import pytest

import pacer_coach.chat.marker
import pacer_coach.prefer
from pacer_coach.chat.marker import MarkerStripper
from pacer_coach.prefer import wait_preference
from pacer_common.errors import BadRequest
from pacer_common.tables.topic_prompts import DEFAULT_MAX_TURNS, max_turns
from pacer_common.topics import SESSION_END_MARKER


@pytest.mark.parametrize("module", [pacer_coach.chat.marker, pacer_coach.prefer])
def test_the_docstring_examples_hold(module: object) -> None:
    failures, tried = doctest.testmod(module)  # type: ignore[arg-type]
    assert tried > 0 and failures == 0


def _through(pieces: list[str]) -> tuple[list[str], bool]:
    stripper = MarkerStripper(SESSION_END_MARKER)
    shown = [stripper.feed(piece) for piece in pieces]
    shown.append(stripper.flush())
    return shown, stripper.seen


REPLY = "All set: Berlin, four runs a week. "


def test_the_marker_is_stripped_wherever_the_tokens_cut_it() -> None:
    """Every way of cutting reply + marker + a tail into three deltas."""
    text = REPLY + SESSION_END_MARKER + "ok"
    for first, second in itertools.combinations_with_replacement(range(len(text) + 1), 2):
        shown, seen = _through([text[:first], text[first:second], text[second:]])
        assert "".join(shown) == REPLY + "ok", (first, second, shown)
        assert seen
        # Held back only while the marker could still be starting: nothing of it is shown.
        assert all("[" not in piece and "]" not in piece for piece in shown), (first, second)


def test_only_a_possible_start_of_the_marker_is_held_back() -> None:
    stripper = MarkerStripper(SESSION_END_MARKER)
    assert stripper.feed("Try [[ this") == "Try [[ this"
    assert stripper.feed(" and [[END") == " and "
    assert stripper.feed("ING soon") == "[[ENDING soon"
    assert stripper.feed("[") == ""
    assert stripper.flush() == "["
    assert not stripper.seen


def test_every_marker_goes_and_the_text_around_it_stays() -> None:
    shown, seen = _through(
        [f"a{SESSION_END_MARKER}b{SESSION_END_MARKER[:3]}", SESSION_END_MARKER[3:]]
    )
    assert "".join(shown) == "ab" and seen
    assert _through([SESSION_END_MARKER]) == (["", ""], True)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], None),
        (["respond-async"], None),
        (["wait=0"], 0),
        (["WAIT = 7"], 7),
        (["respond-async, wait=5;foo=bar"], 5),
        (['wait="12"'], 12),
        (["wait=3", "wait=9"], 3),
        (['note="a, wait=x", wait=4'], 4),
        (["wait=" + "9" * 50], 2**31),
    ],
)
def test_wait_preference(lines: list[str], expected: int | None) -> None:
    assert wait_preference(lines) == expected


@pytest.mark.parametrize("line", ["wait", "wait=", "wait=-1", "wait=1.5", "wait=ten", "wait=0x10"])
def test_a_malformed_wait_is_a_bad_request(line: str) -> None:
    with pytest.raises(BadRequest) as raised:
        wait_preference([line])
    assert raised.value.code == "invalid_prefer"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('{"max_turns": 3, "extraction_model_code": "GONE"}', 3),
        ({"max_turns": 5}, 5),
        ('{"max_turns": true}', DEFAULT_MAX_TURNS),
        ('{"max_turns": 0}', DEFAULT_MAX_TURNS),
        ("{}", DEFAULT_MAX_TURNS),
        (None, DEFAULT_MAX_TURNS),
    ],
)
def test_max_turns_is_read_leniently(config: str | dict[str, int] | None, expected: int) -> None:
    assert max_turns(config) == expected
