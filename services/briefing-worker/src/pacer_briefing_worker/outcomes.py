"""What follows a job's outcome, wherever it was decided (the job's own worker,
the reaper or ``pacer-jobs reap``): the next attempt on the queue, the alerts,
the follow-up run, and a failed extraction's session (FAIL, in
:mod:`pacer_common.session_lifecycle`)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg
from arq.connections import ArqRedis

from pacer_briefing_worker.alerts import Alerts
from pacer_common import session_lifecycle
from pacer_common.jobs import briefing_cache, ledger, queue
from pacer_common.jobs.briefing_cache import RefreshFailure
from pacer_common.jobs.ledger import Job
from pacer_common.jobs.settings import JobSettings
from pacer_common.logs import get_logger

log = get_logger(__name__)


class Outcomes:
    def __init__(
        self, pool: asyncpg.Pool, arq: ArqRedis, settings: JobSettings, alerts: Alerts
    ) -> None:
        self._pool = pool
        self._arq = arq
        self._settings = settings
        self._alerts = alerts

    async def after_failure(self, job: Job) -> None:
        """``job`` as settled: queued again (retry) or failed for good."""
        await self._alerts.job_ended_badly(job, self._owner(job))
        if job.status == "failed":
            if job.kind == queue.EXTRACTION:
                await self._extraction_failed(job)
            if job.kind == queue.REFRESH_BRIEFING:
                failure = RefreshFailure(
                    job.finished_at or dt.datetime.now(dt.UTC), job.error or ""
                )
                try:
                    await briefing_cache.record_failure(self._arq, UUID(job.subject), failure)
                except Exception as error:
                    log.warning("briefing_failure_not_cached", job_id=str(job.id), error=str(error))
            return
        await self.enqueue_next_attempt(job)

    @staticmethod
    def _owner(job: Job) -> str | None:
        """Whose notification stream hears of the job: the user its input names
        (an extraction's session owner), else its subject (a briefing's athlete)."""
        owner = job.input.get("user_id")
        if owner is None and job.kind != queue.EXTRACTION:
            return job.subject
        return None if owner is None else str(owner)

    async def _extraction_failed(self, job: Job) -> None:
        """The last attempt failed (in the worker or reaped): the session is
        'extraction_failed' (its raw output kept) and its owner told."""
        session_id = UUID(job.subject)
        try:
            async with self._pool.acquire() as conn:
                failed = await session_lifecycle.fail(
                    conn, session_id, job.id, job.error or "failed"
                )
        except Exception as error:
            # The session stays 'extracting' while its job is failed: a retry
            # (admin, CLI, or the client's complete) settles it.
            log.error("session_failure_not_recorded", job_id=str(job.id), error=str(error))
            return
        if failed is not None:
            await session_lifecycle.announce_failed(self._arq, failed)

    async def settle_orphaned_sessions(self) -> int:
        """Sessions left 'extracting' behind a failed job: failed now, owner told."""
        async with self._pool.acquire() as conn:
            orphaned = await session_lifecycle.fail_orphaned(conn)
        for session in orphaned:
            log.warning(
                "session_extraction_failed_late",
                session_id=str(session.id),
                job_id=str(session.job_id),
            )
            await session_lifecycle.announce_failed(self._arq, session)
        return len(orphaned)

    async def enqueue_next_attempt(self, job: Job) -> None:
        delay_s = max((job.run_after - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)
        try:
            await queue.enqueue_attempt(self._arq, self._settings, job, delay_s)
        except Exception as error:
            # The row stays waiting; the reaper enqueues it again once Redis answers.
            log.warning("job_retry_not_enqueued", job_id=str(job.id), error=str(error))

    async def after_success(self, succeeded: ledger.Succeeded) -> None:
        # Data was saved while the job read it: the follow-up (already in the
        # ledger) runs now, and calls the LLM only if the data it reads differs.
        follow_up = succeeded.follow_up
        if follow_up is None or not follow_up.created:
            return
        try:
            await queue.enqueue_attempt(self._arq, self._settings, follow_up, 0.0)
        except Exception as error:
            log.warning(
                "job_follow_up_not_enqueued", job_id=str(follow_up.job_id), error=str(error)
            )
