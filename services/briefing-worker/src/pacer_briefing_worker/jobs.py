"""The arq functions: what the queue can run."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from arq.connections import ArqRedis
from arq.typing import WorkerCoroutine

from pacer_briefing_worker import briefing, extraction
from pacer_briefing_worker.metrics import BRIEFINGS
from pacer_briefing_worker.runner import PermanentJobError
from pacer_briefing_worker.settings import BriefingWorkerSettings
from pacer_briefing_worker.state import WorkerState
from pacer_common.jobs import queue
from pacer_common.jobs.ledger import Job
from pacer_common.llm import Deadline
from pacer_common.logs import get_logger
from pacer_common.tables.athlete_context import recently_active_athletes

log = get_logger(__name__)

Ctx = dict[str, Any]


async def refresh_briefing(ctx: Ctx, job_id: str) -> str:
    """Attempt of ledger job ``job_id`` (kind ``refresh_briefing``, subject: the athlete)."""
    state: WorkerState = ctx["state"]

    async def work(job: Job, deadline: Deadline) -> dict[str, Any]:
        try:
            outcome = await briefing.refresh(
                pool=state.pool,
                cache=state.arq,
                llm=state.llm,
                model=state.briefing_model,
                max_tokens=state.settings.BRIEFING_MAX_TOKENS,
                athlete_id=UUID(job.subject),
                deadline=deadline,
            )
        except briefing.AthleteGone as gone:
            raise PermanentJobError(f"athlete {gone} no longer exists") from None
        BRIEFINGS.labels("generated" if outcome["llm_called"] else "unchanged").inc()
        return outcome

    return await state.runner.run(UUID(job_id), work)


async def extract_session(ctx: Ctx, job_id: str) -> str:
    """Attempt of ledger job ``job_id`` (kind ``extraction``, subject: the coaching session)."""
    state: WorkerState = ctx["state"]

    async def work(job: Job, deadline: Deadline) -> dict[str, Any]:
        return await extraction.extract(
            pool=state.pool,
            notify=state.arq,
            llm=state.llm,
            max_tokens=state.settings.EXTRACTION_MAX_TOKENS,
            session_id=UUID(job.subject),
            job_id=job.id,
            deadline=deadline,
        )

    return await state.runner.run(UUID(job_id), work)


# What the queue can run, by job kind: arq runs each function under its kind's name.
BY_KIND: dict[str, WorkerCoroutine] = {
    queue.REFRESH_BRIEFING: refresh_briefing,
    queue.EXTRACTION: extract_session,
}


async def refresh_active_athletes(ctx: Ctx) -> int:
    """Cron: queue a refresh for every athlete who saved anything lately
    (a check-in, an activity, a plan or a goal).

    Only queued here: the worker's WORKER_MAX_JOBS bounds how many run (and
    call the LLM) at once, and an athlete whose data did not change since the
    cached briefing costs no LLM call.
    """
    state: WorkerState = ctx["state"]
    return await queue_active_athletes(state.pool, state.arq, state.settings)


async def queue_active_athletes(
    pool: asyncpg.Pool, arq: ArqRedis, settings: BriefingWorkerSettings
) -> int:
    async with pool.acquire() as conn:
        athletes = await recently_active_athletes(conn, settings.BRIEFING_ACTIVE_DAYS)
    for athlete_id in athletes:
        await queue.request_briefing_refresh(
            pool,
            arq,
            settings,
            athlete_id,
            reason="periodic",
            data_changed=False,
            debounce=False,
        )
    log.info("periodic_refresh_queued", athletes=len(athletes))
    return len(athletes)
