"""Liveness (no I/O) and readiness (Postgres, schema and Redis; not ready while draining).

Redis is a real check: every chat writes its reply log there (a chat with Redis
down is refused with 503), and so does the notification stream.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_coach.state import app_state
from pacer_common.web.readiness import postgres_and_schema, readiness_response, run_check


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    state = app_state(request)
    checks, version = await postgres_and_schema(
        state["pool"], state["settings"].READY_CHECK_TIMEOUT_SECONDS
    )
    # While draining, the load balancer should stop sending chats here.
    checks["accepting"] = "draining" if state["streams"].draining else "ok"
    checks["redis"] = await run_check(
        state["redis"].ping, state["settings"].READY_CHECK_TIMEOUT_SECONDS
    )
    return readiness_response(
        checks,
        schema_version=version,
        open_streams=len(state["streams"]),
        open_event_streams=len(state["events"]),
    )


ROUTES = [
    Route("/health", health, methods=["GET"]),
    Route("/health/ready", ready, methods=["GET"]),
]
