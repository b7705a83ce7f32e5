"""``make jobs ARGS="stuck"``: the jobs CLI (``pacer-jobs``) pointed at make run's stack."""

from __future__ import annotations

import os
import sys

from pacer_briefing_worker import cli
from pacer_devstack import postgres, valkey
from pacer_devstack.config import StackConfig


def main() -> None:
    config = StackConfig.from_env()
    os.environ.setdefault("DATABASE_URL", postgres.database_url(config.postgres_port))
    os.environ.setdefault("REDIS_URL", valkey.redis_url(config.redis_port))
    cli.main(sys.argv[1:])


if __name__ == "__main__":
    main()
