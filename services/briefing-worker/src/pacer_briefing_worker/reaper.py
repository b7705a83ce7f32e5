"""The reaper: every REAPER_INTERVAL_SECONDS, settle what a dead or frozen process left.

One pass (:meth:`Reaper.reap_once`): jobs past their deadline are timed out (and
retried or failed by :mod:`~pacer_briefing_worker.outcomes`), ledger jobs lost from
arq's queue are enqueued again, coach replies left ``streaming`` by a killed coach
are settled (from their reply log while it is kept, else as abandoned), sessions left
``extracting`` behind a failed job move to ``extraction_failed``, and the gauges
(stuck, long-running, queue depth) are sampled. :meth:`Reaper.enqueue_waiting` runs
once at start-up.

Safe to run in every worker at once: the ledger's reap() locks rows with
SKIP LOCKED, so each overdue job is handled by exactly one reaper.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg
from arq.connections import ArqRedis

from pacer_briefing_worker.alerts import Alerts
from pacer_briefing_worker.metrics import (
    JOBS_LONG_RUNNING,
    JOBS_REAPED,
    JOBS_REQUEUED,
    JOBS_STUCK,
    QUEUE_DEPTH,
    REAPER_LAST_RUN,
)
from pacer_briefing_worker.outcomes import Outcomes
from pacer_briefing_worker.settings import ReaperSettings
from pacer_common.jobs import ledger
from pacer_common.jobs.ledger import Job
from pacer_common.logs import get_logger
from pacer_common.outages import is_dependency_down
from pacer_common.reply_log import settle_dead_producers
from pacer_common.tables.messages import settle_abandoned_replies

log = get_logger(__name__)


@dataclass(frozen=True)
class ReapResult:
    reaped: list[Job]
    requeued: list[Job]
    abandoned_replies: int


@dataclass(eq=False)
class Reaper:
    pool: asyncpg.Pool
    arq: ArqRedis
    settings: ReaperSettings
    outcomes: Outcomes
    alerts: Alerts
    last_run_s: float | None = None

    async def run_forever(self) -> None:
        while True:
            try:
                await self.reap_once()
            except Exception as error:
                if not is_dependency_down(error):
                    log.exception("reaper_failed")
                else:
                    # Postgres or Redis away for a moment: an outage, not a bug (no
                    # traceback); try again next interval.
                    log.warning("reaper_dependency_down", error=str(error))
            await asyncio.sleep(self.settings.REAPER_INTERVAL_SECONDS)

    async def enqueue_waiting(self) -> int:
        """Redis has just (re)connected: queue every waiting job in arq now,
        not JOB_QUEUED_GRACE_SECONDS after it was due (saves made while Redis
        was down have a ledger row but no queue entry). An entry that is already
        queued is kept once: its arq id names the attempt. The reaper's
        lost_in_queue stays the backstop for entries lost later."""
        async with self.pool.acquire() as conn:
            jobs = await ledger.waiting(conn)
        for job in jobs:
            await self.outcomes.enqueue_next_attempt(job)
        if jobs:
            log.info("waiting_jobs_enqueued", count=len(jobs))
        return len(jobs)

    async def reap_once(self) -> ReapResult:
        async with self.pool.acquire() as conn:
            reaped = await ledger.reap(conn, self.settings)
            lost = await ledger.lost_in_queue(conn, self.settings)
            health = await ledger.health(conn, self.settings)
            # From the log first, while it is kept: the text its client saw, a usage row.
            abandoned = await settle_dead_producers(
                conn,
                self.arq,
                self.settings.ORPHAN_REPLY_SECONDS,
                self.settings.REPLY_LOG_TTL_SECONDS,
            )
            abandoned += await settle_abandoned_replies(conn, self.settings.ABANDONED_REPLY_SECONDS)
        for job in reaped:
            JOBS_REAPED.labels(job.status).inc()
            await self.outcomes.after_failure(job)
        for job in lost:
            JOBS_REQUEUED.inc()
            log.warning("job_requeued", job_id=str(job.id), kind=job.kind, status=job.status)
            await self.outcomes.enqueue_next_attempt(job)
        orphaned_sessions = await self.outcomes.settle_orphaned_sessions()
        JOBS_STUCK.set(health.stuck)
        JOBS_LONG_RUNNING.set(health.long_running)
        if health.long_running > self.settings.MAX_LONG_RUNNING_JOBS:
            self.alerts.too_many_long_running(
                health.long_running,
                self.settings.MAX_LONG_RUNNING_JOBS,
                self.settings.JOB_WARNING_SECONDS,
            )
        QUEUE_DEPTH.set(await self.arq.zcard(self.settings.JOB_QUEUE_NAME))
        self.last_run_s = time.monotonic()
        REAPER_LAST_RUN.set(time.time())
        if reaped or lost or abandoned or orphaned_sessions:
            log.info(
                "reaper_ran",
                reaped=len(reaped),
                requeued=len(lost),
                abandoned_replies=abandoned,
                orphaned_sessions=orphaned_sessions,
            )
        return ReapResult(reaped, lost, abandoned)
