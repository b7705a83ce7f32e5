"""Open everything the coach needs at start-up; close it at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette

from pacer_coach.chat.streams import OpenStreams
from pacer_coach.settings import CoachSettings
from pacer_coach.state import AppState
from pacer_coach.store.usage import PostgresUsageSink
from pacer_common.auth import TokenVerifier, load_public_key
from pacer_common.db import create_pool
from pacer_common.llm import LLMClient
from pacer_common.logs import get_logger
from pacer_common.metrics import sample_event_loop_lag, start_metrics_server, stop_metrics_server

log = get_logger(__name__)


def lifespan_for(
    settings: CoachSettings, streams: OpenStreams
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[AppState]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[AppState]:
        # core-api owns the migrations; the coach only checks the version in readiness.
        pool = await create_pool(
            settings.DATABASE_URL,
            max_size=settings.DB_POOL_MAX_SIZE,
            command_timeout_s=settings.DB_COMMAND_TIMEOUT_SECONDS,
            startup_wait_s=settings.DB_STARTUP_WAIT_SECONDS,
        )
        llm = LLMClient.from_settings(settings, usage_sink=PostgresUsageSink(pool))
        metrics = start_metrics_server(settings.COACH_METRICS_HOST, settings.COACH_METRICS_PORT)
        lag_sampler = asyncio.create_task(sample_event_loop_lag(), name="event-loop-lag")
        state: AppState = {
            "settings": settings,
            "pool": pool,
            "llm": llm,
            "token_verifier": TokenVerifier(
                load_public_key(settings.JWT_PUBLIC_KEY_FILE),
                issuer=settings.JWT_ISSUER,
                audience=settings.JWT_AUDIENCE,
            ),
            "streams": streams,
        }
        log.info("coach_started", port=settings.COACH_PORT)
        try:
            yield state
        finally:
            # Streams still open here are force-closed by the server; drain first.
            await streams.drain(settings.COACH_DRAIN_SECONDS)
            lag_sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lag_sampler
            stop_metrics_server(metrics)
            await llm.aclose()
            await pool.close()
            log.info("coach_stopped")

    return lifespan
