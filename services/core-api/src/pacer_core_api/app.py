"""core-api: auth, health, home and athlete data. Never calls an LLM.

Reads like a table of contents: routes, middleware, error handlers, lifespan.
"""

from __future__ import annotations

from starlette.applications import Starlette

from pacer_common.logs import configure_logging
from pacer_common.settings import load_settings
from pacer_common.web.load_shedding import ShedPolicy
from pacer_common.web.service_app import Cors, service_app
from pacer_core_api.lifespan import lifespan_for
from pacer_core_api.routes import admin, athlete, auth, client_config, health, home, me, stats
from pacer_core_api.settings import CoreApiSettings

SERVICE_NAME = "core-api"


def create_app(settings: CoreApiSettings | None = None) -> Starlette:
    if settings is None:
        settings = load_settings(CoreApiSettings)
        configure_logging(SERVICE_NAME, settings.LOG_LEVEL)
    return service_app(
        [
            *health.ROUTES,
            *auth.ROUTES,
            *me.ROUTES,
            *athlete.ROUTES,
            *home.ROUTES,
            *stats.ROUTES,
            *client_config.ROUTES,
            *admin.ROUTES,
        ],
        shed=ShedPolicy(
            settings.CORE_API_SHED_LOOP_LAG_SECONDS, settings.CORE_API_SHED_LOOP_LAG_SAMPLES
        ),
        cors=Cors(
            allow_origins=settings.ALLOWED_ORIGINS,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-Request-ID",
                "X-Pacer-Refresh-Cookie",
            ],
            expose_headers=["X-Request-ID", "Retry-After"],
        ),
        max_body_bytes=settings.MAX_REQUEST_BODY_BYTES,
        lifespan=lifespan_for(settings),
    )
