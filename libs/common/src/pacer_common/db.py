"""The asyncpg pool every service opens in its lifespan."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from pacer_common.logs import get_logger

log = get_logger(__name__)

_RETRY_DELAY_S = 0.5


async def create_pool(
    dsn: str, *, max_size: int, command_timeout_s: float, startup_wait_s: float
) -> asyncpg.Pool:
    """Open a pool, retrying for ``startup_wait_s``: under a supervisor (or Compose)
    Postgres may still be starting when a service boots."""
    deadline = time.monotonic() + startup_wait_s
    attempt = 0
    while True:
        attempt += 1
        try:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=max_size,
                command_timeout=command_timeout_s,
                timeout=min(5.0, max(startup_wait_s, 1.0)),
            )
            return pool
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError) as error:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise
            # Log without the DSN: it may carry a password.
            log.warning(
                "postgres_not_ready",
                attempt=attempt,
                error=type(error).__name__,
                seconds_left=round(remaining, 1),
            )
        await asyncio.sleep(_RETRY_DELAY_S)
