"""``python -m pacer_core_api.migrate``: apply pending migrations and exit (``make migrate``)."""

from __future__ import annotations

import asyncio

from pacer_common.db import create_pool
from pacer_common.logs import configure_logging, get_logger
from pacer_common.migrations import apply_migrations, current_schema_version
from pacer_common.settings import load_settings
from pacer_core_api.settings import CoreApiSettings

log = get_logger("pacer.migrate")


async def migrate(settings: CoreApiSettings) -> int:
    pool = await create_pool(
        settings.DATABASE_URL,
        max_size=1,
        command_timeout_s=600,
        startup_wait_s=settings.DB_STARTUP_WAIT_SECONDS,
    )
    try:
        async with pool.acquire() as conn:
            applied = await apply_migrations(conn)
            version = await current_schema_version(conn)
    finally:
        await pool.close()
    log.info("migrations_done", applied=applied, schema_version=version)
    return version


def main() -> None:
    settings = load_settings(CoreApiSettings)
    configure_logging("core-api", settings.LOG_LEVEL)
    asyncio.run(migrate(settings))


if __name__ == "__main__":
    main()
