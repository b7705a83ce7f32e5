"""Cookie mode for refresh tokens: what a browser uses instead of the JSON body.

A client opts in per request with the header ``X-Pacer-Refresh-Cookie: 1`` on
``/v1/auth/login``, ``/v1/auth/refresh`` and ``/v1/auth/logout``. Then the
refresh token travels only in the ``pacer_refresh`` cookie: ``HttpOnly`` (no
script can read it), ``SameSite=Strict`` and ``Path=/v1/auth`` (sent to the
auth routes only, never cross-site), ``Secure`` outside development. The
response body leaves ``refresh_token`` out. Without the header the JSON body
mode is unchanged, and the cookie is never read.

Reading the cookie only when the header is there is the CSRF defence on top of
SameSite: a cross-site form cannot set a custom header, and a cross-site
``fetch`` that sets one needs a CORS preflight that names the header, which
only ``ALLOWED_ORIGINS`` pass.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from pacer_common.errors import Unauthorized

OPT_IN_HEADER = "x-pacer-refresh-cookie"
COOKIE_NAME = "pacer_refresh"
COOKIE_PATH = "/v1/auth"
# Tokens are new_refresh_token()'s urlsafe base64; anything longer or odder is not one.
MAX_COOKIE_CHARS = 512


def wants_cookie(request: Request) -> bool:
    return request.headers.get(OPT_IN_HEADER, "").strip() == "1"


def token_from_cookie(request: Request) -> str:
    """The refresh token in the cookie, or 401 in the error shape when there is none to try."""
    token = request.cookies.get(COOKIE_NAME, "")
    if not token or len(token) > MAX_COOKIE_CHARS:
        raise Unauthorized("The refresh token is invalid or expired.", code="invalid_refresh_token")
    return token


def set_cookie(response: Response, token: str, *, max_age_s: int, secure: bool) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=max_age_s,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def clear_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(
        COOKIE_NAME, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure
    )
