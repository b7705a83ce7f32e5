"""Liveness (no I/O) and readiness (Postgres and schema; not ready while draining)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_coach.state import app_state
from pacer_common.migrations import current_schema_version, expected_schema_version
from pacer_common.web.error_handlers import error_body


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    state = app_state(request)
    checks: dict[str, str] = {}
    version: int | None = None
    try:
        async with asyncio.timeout(state["settings"].READY_CHECK_TIMEOUT_SECONDS):
            async with state["pool"].acquire() as conn:
                version = await current_schema_version(conn)
        checks["postgres"] = "ok"
    except TimeoutError:
        checks["postgres"] = "timeout"
    except Exception as error:  # any failure of the dependency means "not ready"
        checks["postgres"] = f"error: {type(error).__name__}"
    expected = expected_schema_version()
    if version is None:
        checks["schema"] = "unknown"
    else:
        checks["schema"] = "ok" if version >= expected else f"behind: {version} < {expected}"
    checks["accepting"] = "draining" if state["streams"].draining else "ok"
    failed = sorted(name for name, value in checks.items() if value != "ok")
    body = {
        "status": "ready" if not failed else "unavailable",
        "checks": checks,
        "schema_version": version,
        "open_streams": len(state["streams"]),
    }
    if failed:
        body.update(error_body("not_ready", f"Failed checks: {', '.join(failed)}.", failed=failed))
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse(body)


ROUTES = [
    Route("/health", health, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]
