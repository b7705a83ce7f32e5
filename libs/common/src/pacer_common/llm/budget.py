"""One time budget for a whole LLM request, shared by its retries and its fallback.

A :class:`Deadline` is an absolute point on the monotonic clock. Every wait of
the request (the SDK call, each read of its stream, the fallback) is bounded by
what is *left* of it, so SDK retries times SDK timeout can never add up past it::

    deadline = Deadline.after(120)
    async with asyncio.timeout(min(deadline.remaining(), first_token_s)):
        stream = await sdk.create(...)

It is never held across a ``yield``: an ``asyncio.timeout`` left open over a
yield of an async generator would fire in the consumer's code instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    at_monotonic_s: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """The deadline ``seconds`` from now."""
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at_monotonic_s - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at_monotonic_s


def to_ms(seconds: float) -> int:
    """Whole milliseconds, never negative (for usage rows and events)."""
    return max(0, round(seconds * 1000))
