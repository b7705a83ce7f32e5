"""A coaching session's extraction, from the coach's side: put the job on the
queue, then wait a little for its outcome.

The move to ``extracting`` and the job's ledger row are one transaction
(:func:`pacer_common.session_lifecycle.close`, from the closing reply or from
``complete``); the job goes on arq's queue only after the commit (the worker
must find the row it is told to run). If Redis is away then, the ledger row
stays queued and the worker's reaper enqueues it later. The briefing worker
runs the job.

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

from pacer_coach.settings import CoachSettings
from pacer_coach.store import sessions
from pacer_common.jobs import ledger
from pacer_common.jobs.queue import enqueue_attempt
from pacer_common.jobs.settings import JobSettings
from pacer_common.logs import get_logger
from pacer_common.session_lifecycle import EXTRACTING

log = get_logger(__name__)

# How often a waiting ``complete`` reads the session's status: one indexed row,
# and the result shows at most this late.
POLL_EVERY_S = 0.2


@dataclass(frozen=True)
class JobQueue:
    """arq's queue, where a committed extraction job is put for the worker.

    Built once, in the lifespan, which closes it at shutdown::

        jobs = JobQueue.connect(settings)
        opened.push_async_callback(jobs.aclose)
    """

    arq: ArqRedis
    settings: JobSettings

    @classmethod
    def connect(cls, settings: CoachSettings) -> JobQueue:
        # Connects lazily, on the first enqueue: a Redis that is down at start-up
        # costs only extractions queued late (the worker's reaper enqueues them).
        # Its own client: arq reads bytes, the coach's other clients decode to str.
        arq = ArqRedis.from_url(
            settings.REDIS_URL,
            socket_timeout=settings.READY_CHECK_TIMEOUT_SECONDS,
            socket_connect_timeout=settings.READY_CHECK_TIMEOUT_SECONDS,
        )
        return cls(arq, settings)

    async def aclose(self) -> None:
        await self.arq.aclose()

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
        if await sessions.session_status(pool, session_id) != EXTRACTING:
            return
        left = deadline - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(POLL_EVERY_S, left))
