"""Putting ledger jobs on arq's queue.

The ledger row is the job; the arq entry only says "run attempt n of job X
now (or after a delay)". Its arq job id is ``<ledger id>:<attempt>``, so the
same attempt can be enqueued twice (a trigger racing the reaper's re-enqueue of
a lost entry) and arq keeps one, while a retry, a new attempt, gets a new id.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from pacer_common.jobs import ledger
from pacer_common.jobs.settings import JobSettings
from pacer_common.logs import get_logger
from pacer_common.outages import OUTAGE_CLASSES, is_dependency_down, warn_failed_open

log = get_logger(__name__)

# The job kinds, named here only. The kind of a job is the name of the arq
# function that runs it (the worker registers each under its kind).
REFRESH_BRIEFING = "refresh_briefing"  # subject: the athlete
EXTRACTION = "extraction"  # subject: the coaching session (pacer_common.session_lifecycle)


def arq_job_id(job_id: UUID, attempt: int) -> str:
    return f"{job_id}:{attempt}"


async def enqueue_attempt(
    arq: ArqRedis, settings: JobSettings, job: ledger.Job | ledger.Submitted, defer_s: float
) -> None:
    """Ask arq to run the job's next attempt after ``defer_s``."""
    attempts = job.attempts if isinstance(job, ledger.Job) else 0
    job_id = job.id if isinstance(job, ledger.Job) else job.job_id
    # None when an entry for this very attempt is already queued: nothing to add.
    await arq.enqueue_job(
        job.kind,
        str(job_id),
        _job_id=arq_job_id(job_id, attempts + 1),
        _queue_name=settings.JOB_QUEUE_NAME,
        _defer_by=defer_s if defer_s > 0 else None,
    )


async def request_briefing_refresh(
    pool: asyncpg.Pool,
    arq: ArqRedis,
    settings: JobSettings,
    athlete_id: UUID,
    *,
    reason: str,
    data_changed: bool,
    debounce: bool = True,
) -> ledger.Submitted:
    """Queue a briefing refresh, or join the one already queued or running.

    ``data_changed``: the athlete's data was just saved, so a refresh already
    running gets a follow-up. ``debounce``: wait BRIEFING_DEBOUNCE_SECONDS so a
    burst of saves collapses into this job. If arq cannot be reached the ledger
    row stays queued and the reaper enqueues it once Redis is back.
    """
    delay = settings.BRIEFING_DEBOUNCE_SECONDS if debounce else 0.0
    job_input: dict[str, Any] = {"athlete_id": str(athlete_id), "reason": reason}
    async with pool.acquire() as conn:
        submitted = await ledger.submit(
            conn,
            REFRESH_BRIEFING,
            str(athlete_id),
            job_input,
            run_after_s=delay,
            rerun_if_running=data_changed,
        )
    if submitted.created:
        await enqueue_attempt(arq, settings, submitted, delay)
    return submitted


async def refresh_after_save(
    pool: asyncpg.Pool,
    arq: ArqRedis,
    settings: JobSettings,
    athlete_id: UUID,
    *,
    reason: str,
    data_changed: bool = True,
) -> bool:
    """The briefing refresh after a save (core-api's routes, the coach's applied
    proposals); True if one is now queued or running for the athlete.

    Never fails the save because Postgres or Redis is away: the athlete's data is
    already committed, and a refresh that could not be queued is picked up when the
    worker reconnects, by the reaper (a ledger row without its queue entry) or by
    the next trigger, home view or cron run.
    """
    try:
        await request_briefing_refresh(
            pool, arq, settings, athlete_id, reason=reason, data_changed=data_changed
        )
    except RedisError as error:
        # Redis away or refusing writes (full under noeviction): the ledger row
        # waits for the worker, and the save still answers.
        warn_failed_open(log, "briefing_refresh_not_queued", error, reason=reason)
        return False
    except OUTAGE_CLASSES as error:
        # Postgres away: the same. Anything else is a bug, and fails the request as one.
        if not is_dependency_down(error):
            raise
        warn_failed_open(log, "briefing_refresh_not_queued", error, reason=reason)
        return False
    return True
