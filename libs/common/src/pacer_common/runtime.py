"""What every service opens in its lifespan: the Postgres pool, the metrics
port and the token verifier. (The event-loop-lag sampler runs with the load
shedding it feeds: :mod:`pacer_common.web.load_shedding`.)"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from pacer_common.auth import TokenVerifier, load_public_key
from pacer_common.db import create_pool
from pacer_common.metrics import start_metrics_server, stop_metrics_server
from pacer_common.settings import ServiceSettings


async def open_pool(settings: ServiceSettings) -> asyncpg.Pool:
    return await create_pool(
        settings.DATABASE_URL,
        max_size=settings.DB_POOL_MAX_SIZE,
        command_timeout_s=settings.DB_COMMAND_TIMEOUT_SECONDS,
        startup_wait_s=settings.DB_STARTUP_WAIT_SECONDS,
    )


def token_verifier(settings: ServiceSettings) -> TokenVerifier:
    return TokenVerifier(
        load_public_key(settings.JWT_PUBLIC_KEY_FILE),
        issuer=settings.JWT_ISSUER,
        audience=settings.JWT_AUDIENCE,
    )


@contextlib.asynccontextmanager
async def observability(metrics_host: str, metrics_port: int) -> AsyncIterator[None]:
    """Serve /metrics on the internal port while open."""
    metrics = start_metrics_server(metrics_host, metrics_port)
    try:
        yield
    finally:
        stop_metrics_server(metrics)
