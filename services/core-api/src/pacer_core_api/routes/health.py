"""Liveness (no I/O) and readiness (Postgres, Redis, schema version)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_common.web.readiness import postgres_and_schema, readiness_response, run_check
from pacer_core_api.state import app_state


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    state = app_state(request)
    timeout_s = state["settings"].READY_CHECK_TIMEOUT_SECONDS
    (checks, version), redis_check = await asyncio.gather(
        postgres_and_schema(state["pool"], timeout_s),
        run_check(state["redis"].ping, timeout_s),
    )
    return readiness_response({**checks, "redis": redis_check}, schema_version=version)


ROUTES = [
    Route("/health", health, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]
