"""Liveness (no I/O) and readiness (Postgres and schema; not ready while draining)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_coach.state import app_state
from pacer_common.web.readiness import postgres_and_schema, readiness_response


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    state = app_state(request)
    checks, version = await postgres_and_schema(
        state["pool"], state["settings"].READY_CHECK_TIMEOUT_SECONDS
    )
    # While draining, the load balancer should stop sending chats here.
    checks["accepting"] = "draining" if state["streams"].draining else "ok"
    return readiness_response(checks, schema_version=version, open_streams=len(state["streams"]))


ROUTES = [
    Route("/health", health, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]
