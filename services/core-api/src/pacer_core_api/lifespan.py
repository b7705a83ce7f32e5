"""Open everything core-api needs at start-up; close it at shutdown."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import cast

import redis.asyncio as redis
from arq.connections import ArqRedis
from starlette.applications import Starlette

from pacer_common.logs import get_logger
from pacer_common.migrations import apply_migrations
from pacer_common.runtime import observability, open_pool, token_verifier
from pacer_core_api.security.login_throttle import LoginLimits, LoginThrottle
from pacer_core_api.security.passwords import Passwords
from pacer_core_api.security.registration_throttle import (
    RegistrationLimits,
    RegistrationThrottle,
)
from pacer_core_api.security.tokens import AccessTokenIssuer, load_private_key
from pacer_core_api.settings import CoreApiSettings
from pacer_core_api.state import AppState

log = get_logger(__name__)


def _redis_clients(settings: CoreApiSettings) -> tuple[redis.Redis, ArqRedis]:
    """The short commands' client (decoded) and arq's (bytes), each with the readiness
    check's timeouts: a Redis that hangs costs a request seconds, never minutes."""
    timeout_s = settings.READY_CHECK_TIMEOUT_SECONDS
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        decode_responses=True,
    )
    arq_client = ArqRedis.from_url(
        settings.REDIS_URL, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    return client, arq_client


def _security(settings: CoreApiSettings, redis_client: redis.Redis) -> dict[str, object]:
    """Password hashing, token issuing and the two throttles, from their settings."""
    return {
        "token_issuer": AccessTokenIssuer(
            load_private_key(settings.JWT_PRIVATE_KEY_FILE),
            issuer=settings.JWT_ISSUER,
            audience=settings.JWT_AUDIENCE,
            ttl_s=settings.ACCESS_TOKEN_TTL_SECONDS,
        ),
        "passwords": Passwords(
            time_cost=settings.ARGON2_TIME_COST,
            memory_kib=settings.ARGON2_MEMORY_KIB,
            parallelism=settings.ARGON2_PARALLELISM,
            concurrency=settings.PASSWORD_HASH_CONCURRENCY,
            signup_concurrency=settings.REGISTER_HASH_CONCURRENCY,
        ),
        "login_throttle": LoginThrottle(
            redis_client,
            LoginLimits(
                max_per_account_and_ip=settings.LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP,
                max_per_ip=settings.LOGIN_MAX_FAILURES_PER_IP,
                account_slowdown_after=settings.LOGIN_ACCOUNT_SLOWDOWN_AFTER_FAILURES,
                account_max_delay_s=settings.LOGIN_ACCOUNT_MAX_DELAY_SECONDS,
                window_s=settings.LOGIN_FAILURE_WINDOW_SECONDS,
            ),
        ),
        "registration_throttle": RegistrationThrottle(
            redis_client,
            RegistrationLimits(
                max_per_ip=settings.REGISTER_MAX_PER_IP,
                ip_window_s=settings.REGISTER_IP_WINDOW_SECONDS,
                max_global=settings.REGISTER_MAX_GLOBAL,
                global_window_s=settings.REGISTER_GLOBAL_WINDOW_SECONDS,
            ),
        ),
    }


def lifespan_for(
    settings: CoreApiSettings,
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[AppState]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[AppState]:
        # Each resource is closed by the stack, in reverse, however far the
        # start-up got: a failed migration or an unreadable key leaks nothing.
        async with contextlib.AsyncExitStack() as opened:
            opened.callback(log.info, "core_api_stopped")
            pool = await open_pool(settings)
            opened.push_async_callback(pool.close)
            if settings.RUN_MIGRATIONS_ON_STARTUP:
                async with pool.acquire() as conn:
                    await apply_migrations(conn)
            redis_client, arq_client = _redis_clients(settings)
            opened.push_async_callback(redis_client.aclose)
            opened.push_async_callback(arq_client.aclose)
            state = cast(
                AppState,
                {
                    "settings": settings,
                    "pool": pool,
                    "redis": redis_client,
                    "arq": arq_client,
                    "token_verifier": token_verifier(settings),
                    **_security(settings, redis_client),
                },
            )
            await opened.enter_async_context(
                observability(settings.CORE_API_METRICS_HOST, settings.CORE_API_METRICS_PORT)
            )
            log.info("core_api_started", port=settings.CORE_API_PORT)
            yield state

    return lifespan
