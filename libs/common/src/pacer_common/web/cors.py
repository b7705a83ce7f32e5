"""Starlette's CORS middleware, with a refused preflight in Pacer's JSON error shape.

Starlette answers a preflight it refuses with a ``text/plain`` 400
(``Disallowed CORS origin``); every other error of the API is
``{"error": {"code", "message"}}``, so this one is too. Allowed preflights and
simple requests are Starlette's, unchanged.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse, Response

from pacer_common.web.error_handlers import error_body

CORS_REFUSED_CODE = "cors_rejected"


class JsonCORSMiddleware(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        # Starlette's text names what was refused ("Disallowed CORS origin, method"),
        # never a value the client sent.
        message = bytes(response.body).decode()
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-type", "content-length")
        }
        return JSONResponse(
            error_body(CORS_REFUSED_CODE, message + "."),
            status_code=response.status_code,
            headers=headers,
        )
