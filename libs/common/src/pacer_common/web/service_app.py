"""The Starlette application every Pacer web service is: its routes behind one middleware
stack, in one order, with the error handlers of :mod:`pacer_common.web.error_handlers`.

The order, outermost first, and why:

1. ``CloseAfterUnreadBodyMiddleware``: an answer that leaves the body unread closes the
   connection (before all, so every early answer below is covered).
2. ``LoadSheddingMiddleware``: a shed request costs no request id, log line or metric labels.
3. ``RequestContextMiddleware``: the request id, the access log line, the metrics.
4. ``JsonCORSMiddleware``: the browser client's origin, with the service's methods and headers.
5. ``BodyLimitMiddleware``: a body over the limit is refused before a handler reads it.

Each service's ``app.py`` stays a table of contents: its routes, its CORS lists, its lifespan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import Lifespan

from pacer_common.web.body_limit import BodyLimitMiddleware
from pacer_common.web.cors import JsonCORSMiddleware
from pacer_common.web.error_handlers import EXCEPTION_HANDLERS
from pacer_common.web.load_shedding import LoadSheddingMiddleware, ShedPolicy
from pacer_common.web.request_context import RequestContextMiddleware
from pacer_common.web.unread_body import CloseAfterUnreadBodyMiddleware


@dataclass(frozen=True)
class Cors:
    allow_origins: Sequence[str]
    allow_methods: Sequence[str]
    allow_headers: Sequence[str]
    expose_headers: Sequence[str]
    max_age: int = 600


def service_app(
    routes: Sequence[BaseRoute],
    *,
    shed: ShedPolicy,
    cors: Cors,
    max_body_bytes: int,
    lifespan: Lifespan[Starlette],
) -> Starlette:
    app = Starlette(
        routes=list(routes),
        middleware=[
            Middleware(CloseAfterUnreadBodyMiddleware),
            Middleware(LoadSheddingMiddleware, policy=shed),
            Middleware(RequestContextMiddleware),
            Middleware(
                JsonCORSMiddleware,
                allow_origins=list(cors.allow_origins),
                allow_methods=list(cors.allow_methods),
                allow_headers=list(cors.allow_headers),
                expose_headers=list(cors.expose_headers),
                max_age=cors.max_age,
            ),
            Middleware(BodyLimitMiddleware, max_body_bytes=max_body_bytes),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    # No trailing-slash redirect: Starlette's writes an absolute Location from
    # the request's Host header (`Host: evil.example` -> http://evil.example/...).
    # `/v1/me/` is a 404 in the error shape instead.
    app.router.redirect_slashes = False
    return app
