"""Open everything the coach needs at start-up; close it at shutdown.

hypercorn runs this shutdown only after its graceful timeout, when every
connection is closed: the open streams were drained before that, by the
server's shutdown trigger (:mod:`pacer_coach.server`), while the pool was
still open to store their replies. Here only the clients are closed, each after
what uses it (an exit stack closes in reverse).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import asyncpg
import redis.asyncio as redis
from starlette.applications import Starlette

from pacer_coach.chat.late_store import LateStores
from pacer_coach.chat.log_writer import ReplyLogWriter
from pacer_coach.chat.relay import BLOCK_MS as REPLY_BLOCK_MS
from pacer_coach.chat.services import ReplyServices
from pacer_coach.chat.streams import OpenStreams
from pacer_coach.chat.tool_rounds import ToolLimits
from pacer_coach.extraction import JobQueue
from pacer_coach.notifications import BLOCK_MS as EVENTS_BLOCK_MS
from pacer_coach.notifications import EventStreams
from pacer_coach.settings import CoachSettings
from pacer_coach.state import AppState
from pacer_common.llm import LLMClient
from pacer_common.llm.postgres_usage import PostgresUsageSink
from pacer_common.logs import get_logger
from pacer_common.runtime import observability, open_pool, token_verifier

log = get_logger(__name__)


def _redis(
    settings: CoachSettings, *, timeout_s: float, max_connections: int | None = None
) -> redis.Redis:
    client: redis.Redis = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=timeout_s,
        socket_connect_timeout=settings.READY_CHECK_TIMEOUT_SECONDS,
        max_connections=max_connections,
        decode_responses=True,
    )
    return client


def _reply_services(
    settings: CoachSettings,
    opened: contextlib.AsyncExitStack,
    pool: asyncpg.Pool,
    llm: LLMClient,
    reply_log: redis.Redis,
    jobs: JobQueue,
) -> ReplyServices:
    # Closed before its client; by then the drain has had every `done` written.
    writer = ReplyLogWriter(
        reply_log, flush_ms=settings.REPLY_FLUSH_MS, flush_max_ms=settings.REPLY_FLUSH_MAX_MS
    )
    writer.start()
    opened.push_async_callback(writer.aclose)
    late_stores = LateStores(pool)
    opened.push_async_callback(late_stores.aclose)
    return ReplyServices(
        llm=llm,
        pool=pool,
        redis=reply_log,
        writer=writer,
        jobs=jobs,
        late_stores=late_stores,
        log_ttl_s=settings.REPLY_LOG_TTL_SECONDS,
        flush_bytes=settings.REPLY_FLUSH_BYTES,
        tools=ToolLimits(
            timeout_s=settings.FUNCTION_TIMEOUT_SECONDS,
            max_steps=settings.COACH_MAX_TOOL_STEPS,
            proposal_ttl_s=settings.COACH_PROPOSAL_TTL_SECONDS,
        ),
    )


def lifespan_for(
    settings: CoachSettings,
    streams: OpenStreams,
    events: EventStreams | None = None,
    *,
    reply_log: redis.Redis | None = None,
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[AppState]]:
    """``reply_log``: a stand-in for Redis as the reply logs' client (the benchmarks'
    in-memory one, :mod:`pacer_devstack.coach_without_log`); Redis itself by default."""
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
            # The reply logs and short commands. A reply reader's XREAD answers after
            # REPLY_BLOCK_MS; a few seconds more is a loaded machine, not a dead Redis.
            ready_s = settings.READY_CHECK_TIMEOUT_SECONDS
            client = _redis(settings, timeout_s=REPLY_BLOCK_MS / 1000 + 3 * ready_s)
            opened.push_async_callback(client.aclose)
            # The open notification streams' blocking reads, one connection each: a read
            # waits up to EVENTS_BLOCK_MS, only a longer silence is a dead Redis.
            events_reader = _redis(
                settings,
                timeout_s=EVENTS_BLOCK_MS / 1000 + ready_s,
                max_connections=settings.EVENTS_MAX_CONNECTIONS,
            )
            opened.push_async_callback(events_reader.aclose)
            # arq's queue (a session's extraction), its own lazy client: built once.
            jobs = JobQueue.connect(settings)
            opened.push_async_callback(jobs.aclose)
            if reply_log is not None:
                log.warning("coach_reply_log_not_in_redis_not_durable")
            replies = _reply_services(settings, opened, pool, llm, reply_log or client, jobs)
            await opened.enter_async_context(
                observability(settings.COACH_METRICS_HOST, settings.COACH_METRICS_PORT)
            )
            log.info("coach_started", port=settings.COACH_PORT)
            yield {
                "settings": settings,
                "pool": pool,
                "llm": llm,
                "redis": client,
                "replies": replies,
                "token_verifier": token_verifier(settings),
                "streams": streams,
                "events_reader": events_reader,
                "events": notify,
            }

    return lifespan
