"""The one place where errors become responses in the JSON error shape.

{"error": {"code": "validation_error", "message": "...", "details": [...]}}
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pacer_common.errors import PacerError
from pacer_common.logs import get_logger

log = get_logger(__name__)

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
        fields["details"] = error.details
    return JSONResponse(
        error_body(error.code, error.message, **fields),
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


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    # The message never carries the exception's text: it may hold SQL or secrets.
    log.exception("unhandled_error", path=request.url.path)
    request_id = getattr(request.state, "request_id", None)
    return JSONResponse(
        error_body("internal", "Internal error.", request_id=request_id), status_code=500
    )


EXCEPTION_HANDLERS = {
    PacerError: handle_pacer_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
