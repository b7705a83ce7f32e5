"""Liveness (no I/O) and readiness (Postgres, Redis, schema version)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_common.migrations import current_schema_version, expected_schema_version
from pacer_common.web.error_handlers import error_body
from pacer_core_api.state import AppState, app_state


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _check_postgres(state: AppState) -> dict[str, Any]:
    async with state["pool"].acquire() as conn:
        version = await current_schema_version(conn)
    expected = expected_schema_version()
    return {"version": version, "expected": expected}


async def _check_redis(state: AppState) -> None:
    await state["redis"].ping()


async def ready(request: Request) -> JSONResponse:
    state = app_state(request)
    timeout_s = state["settings"].READY_CHECK_TIMEOUT_SECONDS
    checks: dict[str, str] = {}
    schema: dict[str, Any] = {}
    failed: list[str] = []

    async def run(name: str, check: Any) -> Any:
        try:
            async with asyncio.timeout(timeout_s):
                result = await check(state)
            checks[name] = "ok"
            return result
        except TimeoutError:
            checks[name] = "timeout"
        except Exception as error:  # any failure of a dependency means "not ready"
            checks[name] = f"error: {type(error).__name__}"
        failed.append(name)
        return None

    postgres, _ = await asyncio.gather(run("postgres", _check_postgres), run("redis", _check_redis))
    if postgres is not None:
        schema = postgres
        if postgres["version"] >= postgres["expected"]:
            checks["schema"] = "ok"
        else:
            checks["schema"] = f"behind: {postgres['version']} < {postgres['expected']}"
            failed.append("schema")
    else:
        checks["schema"] = "unknown"
    body: dict[str, Any] = {
        "status": "ready" if not failed else "unavailable",
        "checks": checks,
        "schema_version": schema.get("version"),
    }
    if failed:
        body.update(
            error_body("not_ready", f"Failed checks: {', '.join(sorted(failed))}.", failed=failed)
        )
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse(body)


ROUTES = [
    Route("/health", health, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]
