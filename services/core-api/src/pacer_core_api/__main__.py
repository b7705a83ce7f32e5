"""``python -m pacer_core_api``: serve core-api with hypercorn (uvloop worker)."""

from __future__ import annotations

import sys

from hypercorn.run import run

from pacer_common.logs import configure_logging
from pacer_common.settings import load_settings
from pacer_core_api.app import SERVICE_NAME
from pacer_core_api.server import hypercorn_config
from pacer_core_api.settings import CoreApiSettings


def main() -> None:
    # Validate the settings here, before any worker starts, so a bad value
    # stops the process once with a clear message.
    settings = load_settings(CoreApiSettings)
    configure_logging(SERVICE_NAME, settings.LOG_LEVEL)
    sys.exit(run(hypercorn_config(settings)))


if __name__ == "__main__":
    main()
