"""What the browser client reads from the server at start: public, no token, no I/O.

coach_idle_timeout_ms   no byte on a coach stream for this long: give up (CLIENT_STREAM_IDLE_TIMEOUT_SECONDS)
message_max_chars       the composer's limit, the coach's own (COACH_MESSAGE_MAX_CHARS)
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_core_api.state import app_state


async def client_config(request: Request) -> JSONResponse:
    settings = app_state(request)["settings"]
    return JSONResponse(
        {
            "coach_idle_timeout_ms": round(settings.CLIENT_STREAM_IDLE_TIMEOUT_SECONDS * 1000),
            "message_max_chars": settings.COACH_MESSAGE_MAX_CHARS,
        },
        # A changed setting reaches the next page load, not a cached copy.
        headers={"Cache-Control": "no-store"},
    )


ROUTES = [Route("/v1/client-config", client_config, methods=["GET"])]
