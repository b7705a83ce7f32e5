"""Build and run the arq worker: its functions, cron, and what it opens around them.

The ledger, not arq, owns retries: arq runs each queued attempt once
(``max_tries=1``, no retry on cancellation) and keeps no results, so an arq
job id can be used again as soon as its attempt has ended.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from arq import cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func
from hypercorn.asyncio import serve
from hypercorn.config import Config
from redis.exceptions import RedisError

from pacer_briefing_worker import jobs
from pacer_briefing_worker.alerts import Alerts
from pacer_briefing_worker.health import health_app
from pacer_briefing_worker.outcomes import Outcomes
from pacer_briefing_worker.reaper import Reaper
from pacer_briefing_worker.runner import JobRunner
from pacer_briefing_worker.settings import BriefingWorkerSettings
from pacer_briefing_worker.state import WorkerState
from pacer_common.jobs import queue
from pacer_common.llm import MODEL_REGISTRY, LLMClient
from pacer_common.llm.postgres_usage import PostgresUsageSink
from pacer_common.logs import get_logger
from pacer_common.metrics import sample_event_loop_lag
from pacer_common.runtime import open_pool

log = get_logger(__name__)

SERVICE_NAME = "briefing-worker"


def redis_settings(settings: BriefingWorkerSettings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.REDIS_URL)


def health_check_key(settings: BriefingWorkerSettings) -> str:
    """Where arq writes its health line; `arq --check` and the CLI read it."""
    return f"{settings.JOB_QUEUE_NAME}:health-check"


def create_worker(settings: BriefingWorkerSettings, *, health_stop: asyncio.Event) -> Worker:
    async def startup(ctx: dict[str, Any]) -> None:
        arq: ArqRedis = ctx["redis"]
        pool = await open_pool(settings)
        llm = LLMClient.from_settings(settings, usage_sink=PostgresUsageSink(pool))
        alerts = Alerts(
            arq,
            webhook_url=None
            if settings.ALERT_WEBHOOK_URL is None
            else str(settings.ALERT_WEBHOOK_URL),
            webhook_timeout_s=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS,
            repeat_s=settings.ALERT_REPEAT_SECONDS,
        )
        outcomes = Outcomes(pool, arq, settings, alerts)
        reaper = Reaper(pool, arq, settings, outcomes, alerts)
        state = WorkerState(
            settings=settings,
            pool=pool,
            arq=arq,
            llm=llm,
            briefing_model=MODEL_REGISTRY[settings.BRIEFING_MODEL],
            alerts=alerts,
            runner=JobRunner(pool, settings, outcomes, work_deadline_s=settings.llm_deadline_s),
            reaper=reaper,
        )
        state.background = [
            asyncio.create_task(reaper.run_forever(), name="reaper"),
            asyncio.create_task(sample_event_loop_lag(), name="event-loop-lag"),
            asyncio.create_task(
                serve(
                    health_app(  # type: ignore[arg-type]
                        reaper, settings.REAPER_INTERVAL_SECONDS, lambda: _arq_health(arq, settings)
                    ),
                    _health_config(settings),
                    shutdown_trigger=health_stop.wait,
                ),
                name="health-server",
            ),
        ]
        ctx["state"] = state
        log.info(
            "briefing_worker_started",
            port=settings.BRIEFING_WORKER_PORT,
            queue=settings.JOB_QUEUE_NAME,
            max_jobs=settings.WORKER_MAX_JOBS,
        )

    async def shutdown(ctx: dict[str, Any]) -> None:
        # Idempotent: run_until_signalled calls it again if arq's close() failed first.
        state: WorkerState | None = ctx.pop("state", None)
        if state is None:
            return
        health_stop.set()
        for task in state.background:
            task.cancel()
        await asyncio.gather(*state.background, return_exceptions=True)
        await state.alerts.aclose()
        await state.llm.aclose()  # before the pool: it waits for usage rows being written
        await state.pool.close()
        log.info("briefing_worker_stopped")

    every = settings.BRIEFING_REFRESH_EVERY_MINUTES
    return Worker(
        functions=[
            func(
                jobs.refresh_briefing,
                name=queue.REFRESH_BRIEFING,
                timeout=settings.JOB_TIMEOUT_SECONDS,
                max_tries=1,
                keep_result=0,
            )
        ],
        cron_jobs=[
            cron(
                jobs.refresh_active_athletes,
                name="refresh_active_athletes",
                minute=set(range(0, 60, every)),
                second=0,
                timeout=settings.JOB_TIMEOUT_SECONDS,
                max_tries=1,
                keep_result=0,
                unique=True,
            )
        ],
        queue_name=settings.JOB_QUEUE_NAME,
        redis_settings=redis_settings(settings),
        on_startup=startup,
        on_shutdown=shutdown,
        handle_signals=False,
        max_jobs=settings.WORKER_MAX_JOBS,
        job_timeout=settings.JOB_TIMEOUT_SECONDS,
        keep_result=0,
        max_tries=1,
        retry_jobs=False,
        poll_delay=settings.WORKER_POLL_SECONDS,
        health_check_interval=max(int(settings.REAPER_INTERVAL_SECONDS), 5),
        health_check_key=health_check_key(settings),
    )


async def _arq_health(arq: ArqRedis, settings: BriefingWorkerSettings) -> str | None:
    line = await arq.get(health_check_key(settings))
    return None if line is None else line.decode()


def _health_config(settings: BriefingWorkerSettings) -> Config:
    config = Config()
    config.bind = [f"{settings.BRIEFING_WORKER_HOST}:{settings.BRIEFING_WORKER_PORT}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 1.0
    return config


async def run_until_signalled(
    settings: BriefingWorkerSettings, stop: asyncio.Event | None = None
) -> None:
    """Run jobs until SIGTERM/SIGINT; then take no new ones, give running ones
    WORKER_SHUTDOWN_GRACE_SECONDS, and cancel the rest (settled for a retry)."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    worker = create_worker(settings, health_stop=asyncio.Event())
    running = asyncio.create_task(worker.async_run(), name="arq-worker")
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    crashed = running.done() and not stop.is_set()
    if not running.done():
        worker.allow_pick_jobs = False
        state: WorkerState | None = worker.ctx.get("state")
        if state is not None:
            state.runner.stopping = True
        tasks = [task for task in worker.tasks.values() if not task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=settings.WORKER_SHUTDOWN_GRACE_SECONDS)
    try:
        await worker.close()  # cancels what is left, then runs shutdown()
    except (RedisError, OSError) as error:
        # Redis went away first (make run stops everything at once): arq could
        # not record its jobs' ends, but the ledger has every job's state.
        log.warning("arq_close_failed", error=str(error))
        assert worker.on_shutdown is not None
        await worker.on_shutdown(worker.ctx)
    ended: BaseException | None = None
    try:
        await running
    except asyncio.CancelledError:
        pass  # close() cancels arq's loop: the normal way out
    except Exception as failure:
        ended = failure
    if crashed:
        # arq's loop ended by itself: Redis unreachable (at start-up or since)
        # or a bug. Exit non-zero so that the supervisor restarts the worker.
        log.error("briefing_worker_loop_ended", error=repr(ended))
        raise SystemExit(1)
    if ended is not None:
        log.warning("briefing_worker_loop_failed_while_stopping", error=repr(ended))
