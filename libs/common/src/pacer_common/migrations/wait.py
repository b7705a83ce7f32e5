"""``python -m pacer_common.migrations.wait``: wait until the database's schema is
at the version this code needs, then exit 0. Never migrates.

On Kubernetes the migrations are a Job of their own, run before each rollout
(deploy/kubernetes/README.md); core-api and the coach are simply not ready
until the schema is there (their readiness checks it), but the briefing worker
takes jobs from Redis whether or not it is ready. It runs this as its init
container, so a worker whose code needs migration N never starts a job before
migration N is applied.

Exits 1 with a line saying why after ``SCHEMA_WAIT_SECONDS`` (the init
container is then restarted, and the pod's events say so); until then it logs
each poll (Postgres away, or the schema behind).

    DATABASE_URL=postgresql://... SCHEMA_WAIT_SECONDS=600 python -m pacer_common.migrations.wait
"""

from __future__ import annotations

import asyncio
import sys
import time

import asyncpg
from pydantic import Field
from pydantic_settings import BaseSettings

from pacer_common.logs import configure_logging, get_logger
from pacer_common.migrations import current_schema_version, expected_schema_version
from pacer_common.settings import SETTINGS_CONFIG, LogLevel, load_settings

log = get_logger(__name__)

CONNECT_TIMEOUT_S = 5.0


class SchemaWaitSettings(BaseSettings):
    model_config = SETTINGS_CONFIG

    DATABASE_URL: str = Field(min_length=1)
    LOG_LEVEL: LogLevel = "INFO"
    SCHEMA_WAIT_SECONDS: float = Field(default=600.0, gt=0, le=86_400)
    SCHEMA_POLL_SECONDS: float = Field(default=2.0, gt=0, le=60)


class SchemaNotReady(Exception):
    """The schema did not reach the expected version in time."""


async def _schema_version(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S)
    try:
        return await current_schema_version(conn)
    finally:
        await conn.close()


async def wait_for_schema(dsn: str, *, wait_s: float, poll_s: float) -> int:
    """Return the schema version once it is at least what this code expects."""
    expected = expected_schema_version()
    deadline = time.monotonic() + wait_s
    last = "no answer yet"
    while True:
        try:
            version = await _schema_version(dsn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            # Log without the DSN: it may carry a password.
            last = f"Postgres: {type(error).__name__}"
            log.warning("schema_wait_postgres_not_ready", error=type(error).__name__)
        else:
            if version >= expected:
                log.info("schema_ready", schema_version=version, expected=expected)
                return version
            last = f"schema at {version}, this code needs {expected}"
            log.info("schema_behind", schema_version=version, expected=expected)
        if time.monotonic() >= deadline:
            raise SchemaNotReady(f"after {wait_s:g} s: {last} (has the migration Job run?)")
        await asyncio.sleep(poll_s)


def main() -> None:
    settings = load_settings(SchemaWaitSettings)
    configure_logging("schema-wait", settings.LOG_LEVEL)
    try:
        asyncio.run(
            wait_for_schema(
                settings.DATABASE_URL,
                wait_s=settings.SCHEMA_WAIT_SECONDS,
                poll_s=settings.SCHEMA_POLL_SECONDS,
            )
        )
    except SchemaNotReady as error:
        print(f"schema-wait: {error}", file=sys.stderr)  # noqa: T201
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
