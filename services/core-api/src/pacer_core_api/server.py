"""hypercorn configuration for core-api, built from its settings."""

from __future__ import annotations

import os
import tempfile

from hypercorn.config import Config

from pacer_common.web.serving import hypercorn_config as base_config
from pacer_core_api.settings import CoreApiSettings

APPLICATION_PATH = "pacer_core_api.app:create_app()"


def hypercorn_config(settings: CoreApiSettings) -> Config:
    config = base_config(
        host=settings.CORE_API_HOST,
        port=settings.CORE_API_PORT,
        backlog=settings.CORE_API_BACKLOG,
        graceful_timeout_s=settings.CORE_API_GRACEFUL_TIMEOUT_SECONDS,
    )
    config.application_path = APPLICATION_PATH
    config.worker_class = "uvloop"
    # hypercorn's workers=0 serves from this very process: one worker needs no parent.
    config.workers = 0 if settings.CORE_API_WORKERS == 1 else settings.CORE_API_WORKERS
    if config.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several workers must pool their samples for the one metrics port.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="pacer-core-api-metrics-")
    return config
