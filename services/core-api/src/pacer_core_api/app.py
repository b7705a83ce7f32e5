"""core-api: auth, health, home and athlete data. Never calls an LLM.

Reads like a table of contents: routes, middleware, error handlers, lifespan.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware

from pacer_common.logs import configure_logging
from pacer_common.settings import load_settings
from pacer_common.web.body_limit import BodyLimitMiddleware
from pacer_common.web.cors import JsonCORSMiddleware
from pacer_common.web.error_handlers import EXCEPTION_HANDLERS
from pacer_common.web.load_shedding import LoadSheddingMiddleware, ShedPolicy
from pacer_common.web.request_context import RequestContextMiddleware
from pacer_common.web.unread_body import CloseAfterUnreadBodyMiddleware
from pacer_core_api.lifespan import lifespan_for
from pacer_core_api.routes import admin, athlete, auth, client_config, health, home, me, stats
from pacer_core_api.settings import CoreApiSettings

SERVICE_NAME = "core-api"


def create_app(settings: CoreApiSettings | None = None) -> Starlette:
    if settings is None:
        settings = load_settings(CoreApiSettings)
        configure_logging(SERVICE_NAME, settings.LOG_LEVEL)
    app = Starlette(
        routes=[
            *health.ROUTES,
            *auth.ROUTES,
            *me.ROUTES,
            *athlete.ROUTES,
            *home.ROUTES,
            *stats.ROUTES,
            *client_config.ROUTES,
            *admin.ROUTES,
        ],
        middleware=[
            # Before all: an answer that leaves the body unread closes the connection.
            Middleware(CloseAfterUnreadBodyMiddleware),
            # Then the shedder: a shed request costs no request id, log line or metric labels.
            Middleware(
                LoadSheddingMiddleware,
                policy=ShedPolicy(
                    settings.CORE_API_SHED_LOOP_LAG_SECONDS, settings.CORE_API_SHED_LOOP_LAG_SAMPLES
                ),
            ),
            Middleware(RequestContextMiddleware),
            Middleware(
                JsonCORSMiddleware,
                allow_origins=settings.ALLOWED_ORIGINS,
                allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "X-Request-ID",
                    "X-Pacer-Refresh-Cookie",
                ],
                expose_headers=["X-Request-ID", "Retry-After"],
                max_age=600,
            ),
            Middleware(BodyLimitMiddleware, max_body_bytes=settings.MAX_REQUEST_BODY_BYTES),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan_for(settings),
    )
    # No trailing-slash redirect: Starlette's writes an absolute Location from
    # the request's Host header (`Host: evil.example` -> http://evil.example/...).
    # `/v1/me/` is a 404 in the error shape instead.
    app.router.redirect_slashes = False
    return app
