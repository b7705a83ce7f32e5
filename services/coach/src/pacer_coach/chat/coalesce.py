"""One reply's text on its way to becoming a delta entry: when it is cut (issue 24).

Each delta entry costs the coach a log entry, an SSE event and a socket write
(and the proxy and the browser one each), whatever its size; so fewer, larger
deltas are cheaper, as long as the text does not visibly wait. The rule:

- the reply's **first** text goes at once (the time to the first token is
  what a user notices most);
- after that, text is held for a window of about ``TARGET_TOKENS`` tokens at the
  rate the reply's tokens are coming (a moving average of the gaps between
  them), never shorter than the writer's window (``REPLY_FLUSH_MS``, 40 ms) and
  never longer than ``REPLY_FLUSH_MAX_MS``: at 100 tokens/s that is 40 ms
  (4 tokens, as before), at 50 tokens/s 80 ms, at 20 tokens/s the bound;
- a buffer of ``REPLY_FLUSH_BYTES`` is cut at once.

The bound, 150 ms by default: text that appears in steps of up to ~150 ms still
reads as flowing (a reader takes in a word every ~250 ms; 100 ms is the usual
"instant" threshold for a response to an action, and a reply's later words are
not that), and at 20 tokens/s it carries three tokens an event instead of one.
The writer's windows tick every ``REPLY_FLUSH_MS``, so held text goes out at
the first tick once it has waited at least its window less one tick: it never
waits longer than the bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Tokens an event should carry when the reply's rate allows it within the bound.
TARGET_TOKENS = 4
# The moving average's weight of a new gap: about the last eight gaps count.
GAP_WEIGHT = 1 / 8


class DeltaCoalescer:
    """Buffers text; says when the buffer is due to become one delta entry."""

    __slots__ = (
        "_base_s",
        "_bytes",
        "_clock",
        "_first_at",
        "_flush_bytes",
        "_gap_s",
        "_last_at",
        "_max_s",
        "_parts",
        "_sent_any",
        "tokens",
    )

    def __init__(
        self,
        *,
        base_s: float,
        max_s: float,
        flush_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._base_s = base_s
        self._max_s = max(max_s, base_s)
        self._flush_bytes = flush_bytes
        self._parts: list[str] = []
        self._bytes = 0
        self.tokens = 0
        self._first_at = 0.0  # when the buffered text's first token came
        self._last_at: float | None = None
        # Until two tokens have come, the writer's window (as if 4 tokens a window).
        self._gap_s = base_s / TARGET_TOKENS
        self._sent_any = False

    def add(self, text: str) -> bool:
        """Buffer one token's text; True when it must be cut at once (the reply's
        first text, or a full buffer)."""
        now = self._clock()
        if self._last_at is not None:
            self._gap_s += (now - self._last_at - self._gap_s) * GAP_WEIGHT
        self._last_at = now
        if not self._parts:
            self._first_at = now
        self._parts.append(text)
        self._bytes += len(text.encode())
        self.tokens += 1
        return not self._sent_any or self._bytes >= self._flush_bytes

    @property
    def holding(self) -> bool:
        return bool(self._parts)

    def window_s(self) -> float:
        """How long text is held now: ~TARGET_TOKENS tokens at the reply's rate, bounded."""
        return min(max(TARGET_TOKENS * self._gap_s, self._base_s), self._max_s)

    def due(self) -> bool:
        """At a writer's tick: has the buffered text waited its window (less one tick)?"""
        if not self._parts:
            return False
        return self._clock() - self._first_at >= self.window_s() - self._base_s

    def take(self) -> tuple[str, int]:
        """The buffered text and its token count; the buffer starts again empty."""
        text, tokens = "".join(self._parts), self.tokens
        self._parts, self._bytes, self.tokens = [], 0, 0
        self._sent_any = True
        return text, tokens
