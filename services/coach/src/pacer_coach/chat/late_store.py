"""Replies that ended while Postgres was away, stored by their own coach as soon as it is back.

A reply's producer retries storing it for a few seconds
(:func:`pacer_coach.chat.turn.close_turn`); past that, its client has been told
``done`` from the log, and the reply is handed here: stored from what the
producer holds, as the log has it (:func:`pacer_common.reply_log.settle_from_log`,
conditional, so the worker's reaper or a resuming coach may get there first and
nothing is written twice). On shutdown what is left is the reaper's.
"""

from __future__ import annotations

import asyncio
import contextlib
from uuid import UUID

import asyncpg

from pacer_common.logs import get_logger
from pacer_common.outages import is_dependency_down
from pacer_common.reply_log import LoggedReply, settle_from_log

log = get_logger(__name__)

# Tried again this often at first, then less and less often, up to the second figure.
FIRST_RETRY_S = 0.25
MAX_RETRY_S = 2.0
# One try's longest wait for a connection: Postgres that far away is still away.
TRY_TIMEOUT_S = 5.0
# After this the reaper's pass (every REAPER_INTERVAL_SECONDS) is as quick.
GIVE_UP_AFTER_S = 600.0


class LateStores:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, message_id: UUID, reply: LoggedReply) -> None:
        task = asyncio.create_task(self._store(message_id, reply), name="coach-late-store")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _store(self, message_id: UUID, reply: LoggedReply) -> None:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + GIVE_UP_AFTER_S
        delay_s = FIRST_RETRY_S
        while True:
            try:
                async with asyncio.timeout(TRY_TIMEOUT_S), self._pool.acquire() as conn:
                    settled = await settle_from_log(conn, message_id, reply)
                log.info(
                    "coach_reply_stored_late", message_id=str(message_id), stored=bool(settled)
                )
                return
            except Exception as error:
                if not (isinstance(error, TimeoutError) or is_dependency_down(error)):
                    log.exception("coach_reply_late_store_failed", message_id=str(message_id))
                    return
            if loop.time() > give_up_at:
                log.warning("coach_reply_left_to_the_reaper", message_id=str(message_id))
                return
            await asyncio.sleep(delay_s)
            delay_s = min(2 * delay_s, MAX_RETRY_S)
