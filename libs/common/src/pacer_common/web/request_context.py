"""Request id, access log and HTTP metrics in one pure-ASGI middleware.

Pure ASGI rather than BaseHTTPMiddleware: it adds no task per request and
does not buffer streamed responses (the coach streams SSE through the same
stack).
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pacer_common.logs import get_logger
from pacer_common.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

log = get_logger("pacer.access")

REQUEST_ID_HEADER = b"x-request-id"
# Accept the proxy's (or a client's) id only if it is short and plain; anything
# else could be used to forge log lines, so it is replaced.
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
# Liveness and readiness probes hit these every few seconds; keep them out of the info log.
_QUIET_PATHS = frozenset({"/health", "/health/ready"})


def _incoming_request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _VALID_REQUEST_ID.match(value):
            return str(value.decode("ascii"))
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_REQUEST_DURATION.labels(method, template, str(status)).observe(elapsed)
            emit = log.debug if scope["path"] in _QUIET_PATHS and status < 400 else log.info
            emit(
                "request",
                method=method,
                path=scope["path"],
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
