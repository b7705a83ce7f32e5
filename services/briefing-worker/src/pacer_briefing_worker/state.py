"""What settles jobs, wired in one place, and what the worker's jobs read (arq's ctx["state"]).

:func:`build_state` is the one wiring of alerts, outcomes and the reaper: the
worker, ``pacer-jobs`` and the tests all get theirs from it::

    jobs = build_state(settings, pool, arq)
    try:
        await jobs.reaper.reap_once()
    finally:
        await jobs.aclose()
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
from arq.connections import ArqRedis

from pacer_briefing_worker.alerts import Alerts
from pacer_briefing_worker.outcomes import Outcomes
from pacer_briefing_worker.reaper import Reaper
from pacer_briefing_worker.runner import JobRunner
from pacer_briefing_worker.settings import BriefingWorkerSettings, ReaperSettings
from pacer_common.llm import LLMClient, ModelSpec


@dataclass
class JobState:
    alerts: Alerts
    outcomes: Outcomes
    reaper: Reaper

    async def aclose(self) -> None:
        """Let webhook posts in flight finish (briefly) and close their HTTP client."""
        await self.alerts.aclose()


def build_state(settings: ReaperSettings, pool: asyncpg.Pool, arq: ArqRedis) -> JobState:
    alerts = Alerts(
        arq,
        webhook_url=None if settings.ALERT_WEBHOOK_URL is None else str(settings.ALERT_WEBHOOK_URL),
        webhook_timeout_s=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS,
        repeat_s=settings.ALERT_REPEAT_SECONDS,
    )
    outcomes = Outcomes(pool, arq, settings, alerts)
    return JobState(alerts, outcomes, Reaper(pool, arq, settings, outcomes, alerts))


@dataclass
class WorkerState:
    settings: BriefingWorkerSettings
    pool: asyncpg.Pool
    arq: ArqRedis
    llm: LLMClient
    briefing_model: ModelSpec
    jobs: JobState
    runner: JobRunner
    background: list[asyncio.Task[None]] = field(default_factory=list)
