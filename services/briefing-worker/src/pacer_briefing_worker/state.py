"""What the worker opens at start-up and every job reads (arq's ctx["state"])."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
from arq.connections import ArqRedis

from pacer_briefing_worker.alerts import Alerts
from pacer_briefing_worker.reaper import Reaper
from pacer_briefing_worker.runner import JobRunner
from pacer_briefing_worker.settings import BriefingWorkerSettings
from pacer_common.llm import LLMClient, ModelSpec


@dataclass
class WorkerState:
    settings: BriefingWorkerSettings
    pool: asyncpg.Pool
    arq: ArqRedis
    llm: LLMClient
    briefing_model: ModelSpec
    alerts: Alerts
    runner: JobRunner
    reaper: Reaper
    background: list[asyncio.Task[None]] = field(default_factory=list)
