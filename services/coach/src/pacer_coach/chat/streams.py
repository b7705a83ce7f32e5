"""Open chat streams of this process: the connection cap and the shutdown drain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pacer_coach.metrics import CHATS_REFUSED, OPEN_STREAMS
from pacer_common.errors import ServiceUnavailable
from pacer_common.logs import get_logger

log = get_logger(__name__)


class OpenStreams:
    """Counts streams from the moment a chat is accepted until its response ends."""

    def __init__(self, *, warn_at: int, cap: int) -> None:
        self._warn_at = warn_at
        self._cap = cap
        self._aborts: dict[int, Callable[[], None]] = {}
        self._next_id = 0
        self.draining = False
        self._empty = asyncio.Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self._aborts)

    def reserve(self) -> int:
        """Take a slot or raise 503 before any stream opens."""
        if self.draining:
            CHATS_REFUSED.labels("shutting_down").inc()
            raise ServiceUnavailable(
                "The coach is restarting; try again in a moment.",
                code="shutting_down",
                retry_after_s=2,
            )
        if len(self._aborts) >= self._cap:
            CHATS_REFUSED.labels("at_capacity").inc()
            log.warning("coach_at_capacity", open_streams=len(self._aborts), cap=self._cap)
            raise ServiceUnavailable(
                "The coach is at capacity; try again shortly.", code="at_capacity", retry_after_s=5
            )
        self._next_id += 1
        slot = self._next_id
        self._aborts[slot] = lambda: None
        self._empty.clear()
        OPEN_STREAMS.set(len(self._aborts))
        if len(self._aborts) > self._warn_at:
            log.warning(
                "coach_many_open_streams", open_streams=len(self._aborts), warn_at=self._warn_at
            )
        return slot

    def on_shutdown(self, slot: int, abort: Callable[[], None]) -> None:
        """What to call on this stream when the process drains."""
        if slot in self._aborts:
            self._aborts[slot] = abort

    def release(self, slot: int) -> None:
        """Idempotent: the response and the error path may both release."""
        if self._aborts.pop(slot, None) is not None:
            OPEN_STREAMS.set(len(self._aborts))
            if not self._aborts:
                self._empty.set()

    async def drain(self, timeout_s: float) -> int:
        """Refuse new chats, tell every open stream to end, wait for them; return how many were left."""
        self.draining = True
        log.info("coach_draining", open_streams=len(self._aborts))
        for abort in list(self._aborts.values()):
            abort()
        try:
            async with asyncio.timeout(timeout_s):
                await self._empty.wait()
        except TimeoutError:
            log.warning("coach_drain_timed_out", open_streams=len(self._aborts))
        return len(self._aborts)
