"""The one place where errors become responses in the JSON error shape.

{"error": {"code": "validation_error", "message": "...", "details": [...]}}

Besides Pacer's own errors (:mod:`pacer_common.errors`) and Starlette's
``HTTPException``, a dependency that is down underneath any handler (Postgres
refusing connections or restarting, Redis gone, a call that timed out) is a
503 ``unavailable`` with ``Retry-After``, never a 500 (:mod:`pacer_common.outages`
says which errors those are); any other error is a 500 with its traceback logged.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pacer_common.errors import PacerError, ServiceUnavailable
from pacer_common.logs import get_logger
from pacer_common.outages import OUTAGE_CLASSES, is_dependency_down

log = get_logger(__name__)

# A 422 lists at most this many details, then says how many it left out: a body
# of 6,000 unknown keys must not become a 500 KB answer.
MAX_ERROR_DETAILS = 20

DEPENDENCY_RETRY_AFTER_S = 5

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_body(code: str, message: str, **fields: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **fields}}


def error_response(error: PacerError) -> JSONResponse:
    fields: dict[str, Any] = dict(error.extra)
    if error.details is not None:
        fields["details"] = error.details[:MAX_ERROR_DETAILS]
        if len(error.details) > MAX_ERROR_DETAILS:
            fields["details_omitted"] = len(error.details) - MAX_ERROR_DETAILS
    return JSONResponse(
        {**error.report, **error_body(error.code, error.message, **fields)},
        status_code=error.status_code,
        headers=error.headers,
    )


async def handle_pacer_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PacerError)
    return error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def handle_possible_outage(request: Request, exc: Exception) -> Response:
    if not is_dependency_down(exc):
        return await handle_unexpected(request, exc)
    # A warning, not an error with a traceback: readiness and the alerts say the
    # same thing, and an outage must not flood the log with stack traces.
    log.warning("dependency_unavailable", path=request.url.path, error=type(exc).__name__)
    return error_response(ServiceUnavailable(retry_after_s=DEPENDENCY_RETRY_AFTER_S))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    # The message never carries the exception's text: it may hold SQL or secrets.
    log.exception("unhandled_error", path=request.url.path)
    request_id = getattr(request.state, "request_id", None)
    return JSONResponse(
        error_body("internal", "Internal error.", request_id=request_id), status_code=500
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    PacerError: handle_pacer_error,
    HTTPException: handle_http_exception,
    **dict.fromkeys(OUTAGE_CLASSES, handle_possible_outage),
    Exception: handle_unexpected,
}
