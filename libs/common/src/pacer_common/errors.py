"""Errors every Pacer service raises on purpose.

They are mapped to the JSON error shape ``{"error": {"code", "message", ...}}``
in one place, :mod:`pacer_common.web.error_handlers`; nothing else turns an
error into a status code.

    PacerError                    500 internal
     ├── BadRequest               400 bad_request           a request that cannot be understood
     │    ├── MalformedJson       400 malformed_json        the body is not valid JSON
     │    └── ValidationFailed    422 validation_error      well-formed, but fields are invalid (.details)
     ├── Unauthorized             401 unauthorized          missing / expired / forged token, bad login
     │    └── AccountGone         401 invalid_token         a valid token whose account was deleted
     ├── Forbidden                403 forbidden             authenticated, but not allowed
     ├── NotFound                 404 not_found
     ├── Conflict                 409 conflict              e.g. duplicate registration
     ├── PayloadTooLarge          413 payload_too_large     body over the configured limit
     ├── UnsupportedMediaType     415 unsupported_media_type
     ├── TooManyRequests          429 rate_limited          .retry_after_s
     └── ServiceUnavailable       503 unavailable           .retry_after_s; a dependency is down
          ├── NotReady            503 not_ready             readiness probe: .report names the failed checks
          └── Overloaded          503 overloaded            the event loop stays late: shed (web/load_shedding.py)

A dependency failing underneath a handler (Postgres refusing connections,
Redis gone) is not raised as a PacerError: the handlers table maps those
driver errors to :class:`ServiceUnavailable` too (:mod:`pacer_common.outages`
says which), so a route never has to catch them to avoid a 500.
"""

from __future__ import annotations

from typing import Any


class PacerError(Exception):
    status_code: int = 500
    code: str = "internal"
    default_message: str = "Internal error."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        report: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        self.details = details
        self.headers = headers or {}
        # Extra top-level fields of the error object, e.g. a quota's limit and reset time.
        self.extra = extra or {}
        # Fields beside the error object, at the top of the body (a readiness report).
        self.report = report or {}
        super().__init__(self.message)


class BadRequest(PacerError):
    status_code = 400
    code = "bad_request"
    default_message = "The request could not be understood."


class MalformedJson(BadRequest):
    code = "malformed_json"
    default_message = "The body is not valid JSON."


class ValidationFailed(BadRequest):
    status_code = 422
    code = "validation_error"
    default_message = "Some fields are invalid."


class Unauthorized(PacerError):
    status_code = 401
    code = "unauthorized"
    default_message = "Authentication is required."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message, code=code, headers={"WWW-Authenticate": "Bearer"})


class AccountGone(Unauthorized):
    """An access token outlives a deleted account by up to its TTL; every route refuses it."""

    def __init__(self) -> None:
        super().__init__("This account no longer exists.", code="invalid_token")


class Forbidden(PacerError):
    status_code = 403
    code = "forbidden"
    default_message = "You are not allowed to do this."


class NotFound(PacerError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(PacerError):
    status_code = 409
    code = "conflict"
    default_message = "This conflicts with existing data."


class PayloadTooLarge(PacerError):
    status_code = 413
    code = "payload_too_large"
    default_message = "The request body is too large."


class UnsupportedMediaType(PacerError):
    status_code = 415
    code = "unsupported_media_type"
    default_message = "Send the body as application/json."


class TooManyRequests(PacerError):
    status_code = 429
    code = "rate_limited"
    default_message = "Too many requests; try again later."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after_s: int,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.retry_after_s = max(1, retry_after_s)
        super().__init__(
            message,
            code=code,
            headers={"Retry-After": str(self.retry_after_s)},
            extra={"retry_after_s": self.retry_after_s, **(extra or {})},
        )


class ServiceUnavailable(PacerError):
    status_code = 503
    code = "unavailable"
    default_message = "The service is unavailable; try again shortly."

    def __init__(
        self, message: str | None = None, *, retry_after_s: int = 5, code: str | None = None
    ) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, code=code, headers={"Retry-After": str(retry_after_s)})


class NotReady(ServiceUnavailable):
    code = "not_ready"
    default_message = "Not ready."

    def __init__(self, failed: list[str], report: dict[str, Any]) -> None:
        super().__init__(f"Failed checks: {', '.join(failed)}.")
        self.extra = {"failed": failed}
        self.report = report


class Overloaded(ServiceUnavailable):
    code = "overloaded"
    default_message = "The service is overloaded; try again shortly."
