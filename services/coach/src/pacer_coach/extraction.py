"""A coaching session's extraction, from the coach's side: queue it, then wait a little.

The extraction itself is a job in the ledger (kind ``extraction``, subject the
session id) that the briefing worker runs. The coach moves the session to
``extracting`` and submits the job in one transaction, so a session is never
``extracting`` without a job, and puts it on arq's queue only after the commit
(the worker must find the row it is told to run). If Redis is away then, the
ledger row stays queued and the worker's reaper enqueues it later.

Seed 003 ran the extraction inline and answered past a 30 s gateway; here
``complete`` waits at most ``Prefer: wait`` seconds (25 at most) for the
worker, then answers 202 and the client polls the session or follows its
notification stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from pacer_coach.store import sessions
from pacer_common.jobs import ledger
from pacer_common.jobs.queue import enqueue_attempt, request_extraction
from pacer_common.jobs.settings import JobSettings
from pacer_common.logs import get_logger

log = get_logger(__name__)

# How often a waiting ``complete`` reads the session's status: one indexed row,
# and the result shows at most this late.
POLL_EVERY_S = 0.2
# The statuses a session can be extracted from: a finished conversation, or a
# failed extraction being tried again.
EXTRACTABLE = frozenset({"active", "extraction_failed"})


async def begin(conn: asyncpg.Connection, session_id: UUID, user_id: UUID) -> ledger.Submitted:
    """Move a locked, extractable session to 'extracting' and submit its job,
    in the caller's transaction; :meth:`JobQueue.enqueue` it after the commit."""
    submitted = await request_extraction(conn, session_id, user_id)
    await sessions.start_extracting(conn, session_id, submitted.job_id)
    return submitted


@dataclass(frozen=True)
class JobQueue:
    """arq's queue, where a committed extraction job is put for the worker."""

    arq: ArqRedis
    settings: JobSettings

    async def enqueue(self, submitted: ledger.Submitted) -> None:
        """Never raises: a job not enqueued stays queued in the ledger for the reaper."""
        if not submitted.created:
            return  # joined a live job: it is on the queue already
        try:
            await enqueue_attempt(self.arq, self.settings, submitted, 0)
        except (RedisError, OSError):
            log.warning("coach_extraction_enqueue_failed", job_id=str(submitted.job_id))


async def wait_while_extracting(
    pool: asyncpg.Pool, session_id: UUID, wait_s: float, *, stop: Callable[[], bool]
) -> None:
    """Return once the session has left 'extracting', ``wait_s`` has passed,
    or ``stop()`` (the coach is draining: answer now, the client polls)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while not stop():
        if await sessions.session_status(pool, session_id) != "extracting":
            return
        left = deadline - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(POLL_EVERY_S, left))
