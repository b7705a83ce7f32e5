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
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pacer_common.logs import get_logger
from pacer_common.metrics import (
    CLIENT_CLOSED_REQUEST_STATUS,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS,
)

log = get_logger("pacer.access")

REQUEST_ID_HEADER = b"x-request-id"
# The one shape of request id Pacer keeps; the proxy applies the same rule
# (request_id_rule in proxy/macros.j2). Short and plain, so that it can neither
# forge a log line nor break the JSON string it is written into.
REQUEST_ID_PATTERN = re.compile(rb"[A-Za-z0-9._-]{1,64}")
# Liveness and readiness probes hit these every few seconds; keep them out of the info log.
_QUIET_PATHS = frozenset({"/health", "/health/ready"})


def _incoming_request_id(scope: Scope) -> str:
    """The client's id if it sent exactly one, of the safe shape; otherwise a new one.

    Two ids would make two logs disagree on which request this is (the proxy
    joins them, a service would take the first), so two is as bad as a hostile one.
    """
    values = [value for name, value in scope["headers"] if name == REQUEST_ID_HEADER]
    if len(values) == 1 and REQUEST_ID_PATTERN.fullmatch(values[0]):
        return str(values[0].decode("ascii"))
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
        response_started = False
        client_gone = False
        started = time.perf_counter()

        async def receive_watching_disconnect() -> Message:
            nonlocal client_gone
            message = await receive()
            if message["type"] == "http.disconnect":
                client_gone = True
            return message

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive_watching_disconnect, send_with_request_id)
        except ClientDisconnect:
            # The client left mid-body (an aborted upload): nobody to answer, and
            # not the service's failure, so no 500 and no "unhandled_error".
            if not client_gone or response_started:
                raise
        finally:
            if client_gone and not response_started:
                status = CLIENT_CLOSED_REQUEST_STATUS
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
