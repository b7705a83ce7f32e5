"""One timer per due millisecond, shared by every stream due in it.

At 200 streams and 100 tokens a second, a sleep per token is 20,000 timers a
second, each made, put on the loop's heap and fired on its own. Streams wait
here instead: those due in the same millisecond (the loop's clock is no finer
under uvloop) share one timer, and each costs only a future of its own.
"""

from __future__ import annotations

import asyncio
import math


class Metronome:
    def __init__(self) -> None:
        # Waiters by the millisecond (of the loop's clock) they are due in.
        self._waiting: dict[int, list[asyncio.Future[None]]] = {}

    async def until(self, when: float) -> None:
        """Return no earlier than the loop's time ``when`` (in seconds)."""
        loop = asyncio.get_running_loop()
        # Rounded up, so never early.
        tick = math.ceil(when * 1000)
        waiters = self._waiting.get(tick)
        if waiters is None:
            waiters = self._waiting[tick] = []
            loop.call_at(tick / 1000, self._fire, tick)
        # A future of its own: a waiter cancelled (its client gone) cancels
        # nobody else's wait.
        future: asyncio.Future[None] = loop.create_future()
        waiters.append(future)
        await future

    def _fire(self, tick: int) -> None:
        for future in self._waiting.pop(tick, ()):
            if not future.done():
                future.set_result(None)
