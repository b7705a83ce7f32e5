"""Readiness checks shared by the services: each dependency with a short
timeout, the schema version, and one response shape (a :class:`NotReady`
503 naming what failed, rendered by the error handlers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from starlette.responses import JSONResponse

from pacer_common.errors import NotReady
from pacer_common.migrations import current_schema_version, expected_schema_version


async def run_check(check: Callable[[], Awaitable[object]], timeout_s: float) -> str:
    """ "ok", "timeout" or "error: <type>": any failure of a dependency means not ready."""
    try:
        async with asyncio.timeout(timeout_s):
            await check()
    except TimeoutError:
        return "timeout"
    except Exception as error:
        return f"error: {type(error).__name__}"
    return "ok"


async def postgres_and_schema(
    pool: asyncpg.Pool, timeout_s: float
) -> tuple[dict[str, str], int | None]:
    """Checks ``postgres`` and ``schema``; also returns the database's schema version."""
    version: int | None = None

    async def read_version() -> None:
        nonlocal version
        async with pool.acquire() as conn:
            version = await current_schema_version(conn)

    checks = {"postgres": await run_check(read_version, timeout_s)}
    expected = expected_schema_version()
    if version is None:
        checks["schema"] = "unknown"
    else:
        checks["schema"] = "ok" if version >= expected else f"behind: {version} < {expected}"
    return checks, version


def readiness_response(
    checks: dict[str, str], *, schema_version: int | None, **extra: Any
) -> JSONResponse:
    failed = sorted(name for name, result in checks.items() if result != "ok")
    body: dict[str, Any] = {
        "status": "ready" if not failed else "unavailable",
        "checks": checks,
        "schema_version": schema_version,
        **extra,
    }
    if failed:
        # Rendered by the one error-handlers table, like every other 503.
        raise NotReady(failed, report=body)
    return JSONResponse(body)
