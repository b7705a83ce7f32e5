"""Versioned SQL migrations of the one Pacer database, applied in order.

Files are named ``NNNN_description.sql``; each runs in its own transaction and
is recorded in ``schema_migrations``. A Postgres advisory lock makes it safe for
several processes (replicas, or ``make migrate`` beside a running service) to
try at once: one applies, the others wait and then find nothing to do.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from pacer_common.logs import get_logger

log = get_logger(__name__)

# An arbitrary, fixed 64-bit key: "pacer" + "migr" as bytes.
MIGRATION_LOCK_KEY = 0x7061636572_6D6967 & 0x7FFFFFFFFFFFFFFF
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


@functools.cache
def available_migrations() -> tuple[Migration, ...]:
    """Read once per process: the files ship with the package and readiness asks often."""
    found = []
    for entry in resources.files(__package__).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return tuple(found)


def expected_schema_version() -> int:
    migrations = available_migrations()
    return migrations[-1].version if migrations else 0


async def current_schema_version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    version = await conn.fetchval("SELECT max(version) FROM schema_migrations")
    return int(version or 0)


async def apply_migrations(conn: asyncpg.Connection) -> list[int]:
    """Apply every pending migration; return the versions applied now."""
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(_BOOTSTRAP)
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in available_migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            log.info("migration_applied", version=migration.version, name=migration.name)
            applied_now.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now
