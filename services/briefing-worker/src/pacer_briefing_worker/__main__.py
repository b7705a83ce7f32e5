"""``python -m pacer_briefing_worker``: run the briefing worker (arq on uvloop, one process)."""

from __future__ import annotations

import uvloop

from pacer_briefing_worker.settings import BriefingWorkerSettings
from pacer_briefing_worker.worker import SERVICE_NAME, run_until_signalled
from pacer_common.logs import configure_logging
from pacer_common.settings import load_settings


def main() -> None:
    settings = load_settings(BriefingWorkerSettings)
    configure_logging(SERVICE_NAME, settings.LOG_LEVEL)
    uvloop.run(run_until_signalled(settings))


if __name__ == "__main__":
    main()
