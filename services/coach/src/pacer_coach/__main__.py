"""``python -m pacer_coach``: serve the coach (hypercorn on uvloop, one process)."""

from __future__ import annotations

import redis.asyncio as redis
import uvloop

from pacer_coach.app import SERVICE_NAME
from pacer_coach.server import serve_until_signalled
from pacer_coach.settings import CoachSettings
from pacer_common.logs import configure_logging
from pacer_common.settings import load_settings


def main() -> None:
    run()


def run(reply_log: redis.Redis | None = None) -> None:
    """``reply_log``: a stand-in for the reply logs' Redis (pacer_devstack.coach_without_log)."""
    settings = load_settings(CoachSettings)
    configure_logging(SERVICE_NAME, settings.LOG_LEVEL)
    uvloop.run(serve_until_signalled(settings, reply_log=reply_log))


if __name__ == "__main__":
    main()
