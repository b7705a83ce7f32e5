"""Build and run the arq worker: its functions, cron, and what it opens around them.

The ledger, not arq, owns retries: arq runs each queued attempt once
(``max_tries=1``, no retry on cancellation) and keeps no results, so an arq
job id can be used again as soon as its attempt has ended.
"""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
from arq import cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func
from hypercorn.asyncio import serve
from hypercorn.config import Config
from redis.exceptions import RedisError

from pacer_briefing_worker import jobs
from pacer_briefing_worker.health import health_app
from pacer_briefing_worker.runner import JobRunner
from pacer_briefing_worker.settings import BriefingWorkerSettings
from pacer_briefing_worker.state import WorkerState, build_state
from pacer_common import redis_names
from pacer_common.llm import MODEL_REGISTRY, LLMClient
from pacer_common.llm.postgres_usage import PostgresUsageSink
from pacer_common.logs import get_logger
from pacer_common.runtime import open_pool
from pacer_common.web.load_shedding import ShedPolicy
from pacer_common.web.serving import hypercorn_config

log = get_logger(__name__)

SERVICE_NAME = "briefing-worker"


def redis_settings(settings: BriefingWorkerSettings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.REDIS_URL)


def create_worker(settings: BriefingWorkerSettings, *, health_stop: asyncio.Event) -> Worker:
    async def startup(ctx: dict[str, Any]) -> None:
        await _startup(settings, health_stop, ctx)

    every = settings.BRIEFING_REFRESH_EVERY_MINUTES
    return Worker(
        functions=[
            # Retries are the ledger's (max_tries=1); each function is named by its job kind.
            func(run, name=kind, timeout=settings.JOB_TIMEOUT_SECONDS, max_tries=1, keep_result=0)
            for kind, run in jobs.BY_KIND.items()
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
        on_shutdown=_shutdown,
        handle_signals=False,
        max_jobs=settings.WORKER_MAX_JOBS,
        job_timeout=settings.JOB_TIMEOUT_SECONDS,
        keep_result=0,
        max_tries=1,
        retry_jobs=False,
        poll_delay=settings.WORKER_POLL_SECONDS,
        health_check_interval=max(int(settings.REAPER_INTERVAL_SECONDS), 5),
        health_check_key=redis_names.health_check_key(settings.JOB_QUEUE_NAME),
    )


async def _startup(
    settings: BriefingWorkerSettings, health_stop: asyncio.Event, ctx: dict[str, Any]
) -> None:
    """arq's on_startup, once arq has connected to Redis."""
    async with AsyncExitStack() as opened:
        state = await _open(settings, ctx["redis"], health_stop, opened)
        # Opened in full: from here on _shutdown closes it. Had anything above
        # failed, the stack would have closed what was open so far.
        ctx["opened"] = opened.pop_all()
    ctx["state"] = state
    # Saves made while Redis was down left ledger rows without queue entries.
    try:
        await state.jobs.reaper.enqueue_waiting()
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        # Not worth a restart: the reaper's lost_in_queue enqueues them later.
        log.exception("waiting_jobs_not_enqueued")
    log.info(
        "briefing_worker_started",
        port=settings.BRIEFING_WORKER_PORT,
        queue=settings.JOB_QUEUE_NAME,
        max_jobs=settings.WORKER_MAX_JOBS,
    )


async def _open(
    settings: BriefingWorkerSettings,
    arq: ArqRedis,
    health_stop: asyncio.Event,
    opened: AsyncExitStack,
) -> WorkerState:
    # Closed in reverse: background tasks, alerts, the LLM client (it waits for
    # usage rows being written), and the pool last.
    pool = await open_pool(settings)
    opened.push_async_callback(pool.close)
    llm = LLMClient.from_settings(settings, usage_sink=PostgresUsageSink(pool))
    opened.push_async_callback(llm.aclose)
    job_state = build_state(settings, pool, arq)
    opened.push_async_callback(job_state.aclose)
    state = WorkerState(
        settings=settings,
        pool=pool,
        arq=arq,
        llm=llm,
        briefing_model=MODEL_REGISTRY[settings.BRIEFING_MODEL],
        jobs=job_state,
        runner=JobRunner(
            pool, settings, job_state.outcomes, work_deadline_s=settings.llm_deadline_s
        ),
    )
    opened.push_async_callback(_stop_background, state.background, health_stop)
    reaper = job_state.reaper
    state.background += [
        asyncio.create_task(reaper.run_forever(), name="reaper"),
        asyncio.create_task(
            serve(
                health_app(  # type: ignore[arg-type]
                    reaper,
                    settings.REAPER_INTERVAL_SECONDS,
                    lambda: _arq_health(arq, settings),
                    ShedPolicy(
                        settings.BRIEFING_WORKER_SHED_LOOP_LAG_SECONDS,
                        settings.BRIEFING_WORKER_SHED_LOOP_LAG_SAMPLES,
                    ),
                ),
                _health_config(settings),
                shutdown_trigger=health_stop.wait,
            ),
            name="health-server",
        ),
    ]
    return state


async def _stop_background(tasks: list[asyncio.Task[None]], health_stop: asyncio.Event) -> None:
    health_stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _shutdown(ctx: dict[str, Any]) -> None:
    """arq's on_shutdown. Idempotent: run_until_signalled calls it again if
    arq's close() failed first."""
    ctx.pop("state", None)
    opened: AsyncExitStack | None = ctx.pop("opened", None)
    if opened is None:
        return
    await opened.aclose()
    log.info("briefing_worker_stopped")


async def _arq_health(arq: ArqRedis, settings: BriefingWorkerSettings) -> str | None:
    line = await arq.get(redis_names.health_check_key(settings.JOB_QUEUE_NAME))
    return None if line is None else line.decode()


def _health_config(settings: BriefingWorkerSettings) -> Config:
    # Only /health and /metrics: a small backlog, and a second is plenty to finish.
    return hypercorn_config(
        host=settings.BRIEFING_WORKER_HOST,
        port=settings.BRIEFING_WORKER_PORT,
        backlog=100,
        graceful_timeout_s=1.0,
    )


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
