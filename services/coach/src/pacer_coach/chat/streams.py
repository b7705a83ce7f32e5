"""Open chat streams of this process: the connection caps and the shutdown drain.

Both caps are per process (the coach scales by replicas, each with its own
registry): a user may hold up to ``per_user_cap`` streams on each replica.
Counting here rather than in Redis keeps a chat free of one more dependency
and of counters that a crashed process would leave behind.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from uuid import UUID

from pacer_coach.metrics import CHATS_REFUSED, OPEN_STREAMS
from pacer_coach.settings import CoachSettings
from pacer_common.errors import ServiceUnavailable, TooManyRequests
from pacer_common.logs import get_logger

log = get_logger(__name__)

# What a client refused for holding too many streams is told to wait: about
# the time a short reply takes to finish and free its slot.
PER_USER_RETRY_AFTER_S = 5


class OpenStreams:
    """Counts replies from the moment a chat is accepted until the reply is stored and done
    (its producer's end, not its response's: a dropped client no longer ends it), and
    resumes until their response ends."""

    def __init__(self, *, warn_at: int, cap: int, per_user_cap: int) -> None:
        self._warn_at = warn_at
        self._cap = cap
        self._per_user_cap = per_user_cap
        self._aborts: dict[int, Callable[[], None]] = {}
        self._owners: dict[int, UUID] = {}
        self._per_user: Counter[UUID] = Counter()
        # Replies produced here, by message id: a cancel that lands on this
        # process stops its producer at once instead of at its next Redis check.
        self._cancels: dict[UUID, Callable[[], None]] = {}
        self._replies: dict[int, UUID] = {}
        self._next_id = 0
        self.draining = False
        self._empty = asyncio.Event()
        self._empty.set()

    @classmethod
    def from_settings(cls, settings: CoachSettings) -> OpenStreams:
        return cls(
            warn_at=settings.SSE_WARN_CONNECTIONS,
            cap=settings.SSE_MAX_CONNECTIONS,
            per_user_cap=settings.SSE_MAX_STREAMS_PER_USER,
        )

    def __len__(self) -> int:
        return len(self._aborts)

    def reserve(self, user_id: UUID) -> int:
        """Take a slot for ``user_id``, or raise 503 / 429 before any stream opens."""
        if self.draining:
            CHATS_REFUSED.labels("shutting_down").inc()
            raise ServiceUnavailable(
                "The coach is restarting; try again in a moment.",
                code="shutting_down",
                retry_after_s=2,
            )
        if self._per_user[user_id] >= self._per_user_cap:
            CHATS_REFUSED.labels("too_many_streams").inc()
            raise TooManyRequests(
                f"You already have {self._per_user_cap} replies streaming; wait for one to finish.",
                code="too_many_streams",
                retry_after_s=PER_USER_RETRY_AFTER_S,
                extra={"limit": self._per_user_cap},
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
        self._owners[slot] = user_id
        self._per_user[user_id] += 1
        self._empty.clear()
        OPEN_STREAMS.set(len(self._aborts))
        if len(self._aborts) > self._warn_at:
            log.warning(
                "coach_many_open_streams", open_streams=len(self._aborts), warn_at=self._warn_at
            )
        return slot

    def on_shutdown(self, slot: int, abort: Callable[[], None]) -> None:
        """What to call on this stream when the process drains (at once if it already is)."""
        if slot in self._aborts:
            self._aborts[slot] = abort
            if self.draining:
                # The drain began while this chat was being stored: it told the others already.
                abort()

    def on_cancel(self, slot: int, message_id: UUID, cancel: Callable[[], None]) -> None:
        """``cancel`` stops the reply ``message_id`` this slot's producer writes."""
        if slot in self._aborts:
            self._cancels[message_id] = cancel
            self._replies[slot] = message_id

    def cancel_here(self, message_id: UUID) -> bool:
        """Stop the reply if this process produces it; False if another one does."""
        cancel = self._cancels.get(message_id)
        if cancel is None:
            return False
        cancel()
        return True

    def release(self, slot: int) -> None:
        """Idempotent: the response and the error path may both release."""
        message_id = self._replies.pop(slot, None)
        if message_id is not None:
            self._cancels.pop(message_id, None)
        if self._aborts.pop(slot, None) is not None:
            user_id = self._owners.pop(slot)
            self._per_user[user_id] -= 1
            if self._per_user[user_id] <= 0:
                del self._per_user[user_id]
            OPEN_STREAMS.set(len(self._aborts))
            if not self._aborts:
                self._empty.set()

    async def drain(self, timeout_s: float) -> int:
        """Refuse new chats, tell every open stream to end, wait for them; return how many were left.

        A stream ends by sending `error: shutdown` and `done` after storing its reply,
        so when this returns in time every open reply is stored.
        """
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
