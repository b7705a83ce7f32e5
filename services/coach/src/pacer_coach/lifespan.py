"""Open everything the coach needs at start-up; close it at shutdown."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette

from pacer_coach.chat.streams import OpenStreams
from pacer_coach.settings import CoachSettings
from pacer_coach.state import AppState
from pacer_common.llm import LLMClient
from pacer_common.llm.postgres_usage import PostgresUsageSink
from pacer_common.logs import get_logger
from pacer_common.runtime import observability, open_pool, token_verifier

log = get_logger(__name__)


def lifespan_for(
    settings: CoachSettings, streams: OpenStreams
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[AppState]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[AppState]:
        # core-api owns the migrations; the coach only checks the version in readiness.
        # The stack closes, in reverse, whatever a failed start-up had opened.
        async with contextlib.AsyncExitStack() as opened:
            opened.callback(log.info, "coach_stopped")
            pool = await open_pool(settings)
            opened.push_async_callback(pool.close)
            llm = LLMClient.from_settings(settings, usage_sink=PostgresUsageSink(pool))
            # Closed before the pool: it waits for usage rows being written.
            opened.push_async_callback(llm.aclose)
            state: AppState = {
                "settings": settings,
                "pool": pool,
                "llm": llm,
                "token_verifier": token_verifier(settings),
                "streams": streams,
            }
            await opened.enter_async_context(
                observability(settings.COACH_METRICS_HOST, settings.COACH_METRICS_PORT)
            )
            log.info("coach_started", port=settings.COACH_PORT)
            yield state
            # Streams still open here would be force-closed by the server: drain first.
            await streams.drain(settings.COACH_DRAIN_SECONDS)

    return lifespan
