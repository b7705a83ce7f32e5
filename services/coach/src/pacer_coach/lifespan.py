"""Open everything the coach needs at start-up; close it at shutdown.

hypercorn runs this shutdown only after its graceful timeout, when every
connection is closed: the open streams were drained before that, by the
server's shutdown trigger (:mod:`pacer_coach.server`), while the pool was
still open to store their replies. Here only the clients are closed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import cast

import redis.asyncio as redis
from arq.connections import ArqRedis
from starlette.applications import Starlette

from pacer_coach.chat.log_writer import ReplyLogWriter
from pacer_coach.chat.memory_log import MemoryReplyLog
from pacer_coach.chat.relay import BLOCK_MS as REPLY_BLOCK_MS
from pacer_coach.chat.streams import OpenStreams
from pacer_coach.notifications import BLOCK_MS as EVENTS_BLOCK_MS
from pacer_coach.notifications import EventStreams
from pacer_coach.settings import CoachSettings
from pacer_coach.state import AppState
from pacer_common.llm import LLMClient
from pacer_common.llm.postgres_usage import PostgresUsageSink
from pacer_common.logs import get_logger
from pacer_common.runtime import observability, open_pool, token_verifier

log = get_logger(__name__)


def lifespan_for(
    settings: CoachSettings, streams: OpenStreams, events: EventStreams | None = None
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[AppState]]:
    notify = events if events is not None else EventStreams.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[AppState]:
        # The stack closes what was opened, in reverse, even if start-up fails half-way.
        async with contextlib.AsyncExitStack() as opened:
            opened.callback(log.info, "coach_stopped")
            # core-api owns the migrations; the coach only checks the version in readiness.
            pool = await open_pool(settings)
            opened.push_async_callback(pool.close)
            llm = LLMClient.from_settings(settings, usage_sink=PostgresUsageSink(pool))
            # Closed before the pool: it waits for usage rows being written.
            opened.push_async_callback(llm.aclose)
            # The reply logs (chat/session.py, chat/relay.py); a reader's XREAD blocks BLOCK_MS.
            redis_client = redis.Redis.from_url(
                settings.REDIS_URL,
                # A blocked read answers after REPLY_BLOCK_MS; a few seconds more is a loaded
                # machine, not a dead Redis.
                socket_timeout=REPLY_BLOCK_MS / 1000 + 3 * settings.READY_CHECK_TIMEOUT_SECONDS,
                socket_connect_timeout=settings.READY_CHECK_TIMEOUT_SECONDS,
                decode_responses=True,
            )
            opened.push_async_callback(redis_client.aclose)
            reply_log = redis_client
            if settings.REPLY_LOG_BACKEND == "memory":
                log.warning("coach_reply_log_in_memory_not_durable")
                # It answers the commands the reply log sends, as Redis does.
                reply_log = cast(redis.Redis, MemoryReplyLog())
            # Closed before its client; by then the drain has had every `done` written.
            reply_writer = ReplyLogWriter(reply_log, flush_ms=settings.REPLY_FLUSH_MS)
            reply_writer.start()
            opened.push_async_callback(reply_writer.aclose)
            events_reader = redis.Redis.from_url(
                settings.REDIS_URL,
                # A blocking read waits up to BLOCK_MS; only a longer silence is a dead Redis.
                socket_timeout=EVENTS_BLOCK_MS / 1000 + settings.READY_CHECK_TIMEOUT_SECONDS,
                socket_connect_timeout=settings.READY_CHECK_TIMEOUT_SECONDS,
                max_connections=settings.EVENTS_MAX_CONNECTIONS,
                decode_responses=True,
            )
            opened.push_async_callback(events_reader.aclose)
            # Connects lazily, on the first enqueue: a Redis that is down at start-up
            # costs only extractions queued late (the worker's reaper enqueues them).
            arq_client = ArqRedis.from_url(
                settings.REDIS_URL,
                socket_timeout=settings.READY_CHECK_TIMEOUT_SECONDS,
                socket_connect_timeout=settings.READY_CHECK_TIMEOUT_SECONDS,
            )
            opened.push_async_callback(arq_client.aclose)
            await opened.enter_async_context(
                observability(settings.COACH_METRICS_HOST, settings.COACH_METRICS_PORT)
            )
            log.info("coach_started", port=settings.COACH_PORT)
            yield {
                "settings": settings,
                "pool": pool,
                "llm": llm,
                "redis": redis_client,
                "reply_log": reply_log,
                "reply_writer": reply_writer,
                "token_verifier": token_verifier(settings),
                "streams": streams,
                "events_reader": events_reader,
                "events": notify,
                "arq": arq_client,
            }

    return lifespan
