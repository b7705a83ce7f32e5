"""A reply's states, in one table: what its producer is doing, and so what its log may carry.

::

    OPEN ─▶ STREAMING ─▶ STOPPING ─▶ ENDING ─▶ FINAL ─▶ CLOSED
    OPEN ──────────────────────────▶ ENDING                  (stopped before the call)
            STREAMING ─────────────▶ ENDING                  (the call ended by itself)
                                     ENDING ──────────▶ CLOSED (storing crashed)

- ``OPEN``: the heartbeat is set, the LLM call not started; a drain that comes
  first skips the call.
- ``STREAMING``: the LLM call runs; each heartbeat also checks for a cancel.
- ``STOPPING``: a cancel or a shutdown is closing the LLM call.
- ``ENDING``: the call is over; the reply is being stored. Beats go on (a reader
  must not take it for dead), there is nothing left to cancel.
- ``FINAL``: ``done`` is pending; its write also sets the log's kept TTL and
  removes the heartbeat.
- ``CLOSED``: ``done`` landed (or was given up on); the writer lets go.

Like h11's connection states: the producer moves it, the log writer only reads it.
"""

from __future__ import annotations

from enum import Enum


class ReplyState(Enum):
    OPEN = "open"
    STREAMING = "streaming"
    STOPPING = "stopping"
    ENDING = "ending"
    FINAL = "final"
    CLOSED = "closed"


_NEXT: dict[ReplyState, frozenset[ReplyState]] = {
    ReplyState.OPEN: frozenset({ReplyState.STREAMING, ReplyState.ENDING}),
    ReplyState.STREAMING: frozenset({ReplyState.STOPPING, ReplyState.ENDING}),
    ReplyState.STOPPING: frozenset({ReplyState.ENDING}),
    ReplyState.ENDING: frozenset({ReplyState.FINAL, ReplyState.CLOSED}),
    ReplyState.FINAL: frozenset({ReplyState.CLOSED}),
    ReplyState.CLOSED: frozenset(),
}
# While these, a heartbeat also asks Redis whether a cancel is waiting.
CHECKS_CANCEL = frozenset({ReplyState.OPEN, ReplyState.STREAMING})


class ReplyLifecycle:
    """The state, and why the call was stopped (``shutdown`` or ``cancelled``) if it was."""

    def __init__(self) -> None:
        self.state = ReplyState.OPEN
        self.stop_reason: str | None = None

    def to(self, state: ReplyState) -> None:
        if state not in _NEXT[self.state]:
            raise RuntimeError(f"a reply cannot go from {self.state.value} to {state.value}")
        self.state = state

    def stop(self, reason: str) -> bool:
        """Ask the call to stop; True the first time (the reason is the first one's)."""
        if self.stop_reason is not None or self.state not in (
            ReplyState.OPEN,
            ReplyState.STREAMING,
        ):
            return False
        self.stop_reason = reason
        if self.state is ReplyState.STREAMING:
            self.to(ReplyState.STOPPING)
        return True

    @property
    def checks_cancel(self) -> bool:
        return self.state in CHECKS_CANCEL and self.stop_reason is None

    @property
    def writes(self) -> bool:
        return self.state is not ReplyState.CLOSED
