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

from pacer_common.jobs import ledger
from pacer_common.jobs.settings import JobSettings

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
