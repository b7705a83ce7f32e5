"""``python -m pacer_common.migrations.wait``: the worker's init container on
Kubernetes waits for the migration Job's schema and never migrates."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest

from fixtures.infra import free_port, scratch_database
from pacer_common.migrations import (
    apply_migrations,
    current_schema_version,
    expected_schema_version,
)
from pacer_common.migrations.wait import SchemaNotReady, wait_for_schema


@pytest.fixture
async def empty_database(migrated_postgres: str) -> AsyncIterator[str]:
    async with scratch_database(migrated_postgres, "schema_wait_probe") as url:
        yield url


async def test_a_migrated_database_passes_at_once(migrated_postgres: str) -> None:
    version = await wait_for_schema(migrated_postgres, wait_s=5, poll_s=0.1)
    assert version == expected_schema_version()


async def test_a_schema_behind_the_code_is_waited_for_and_never_migrated(
    empty_database: str,
) -> None:
    with pytest.raises(SchemaNotReady, match="this code needs"):
        await wait_for_schema(empty_database, wait_s=0.5, poll_s=0.1)
    conn = await asyncpg.connect(empty_database)
    try:
        assert await current_schema_version(conn) == 0
    finally:
        await conn.close()


async def test_the_wait_ends_once_the_migrations_land(empty_database: str) -> None:
    waiting = asyncio.create_task(wait_for_schema(empty_database, wait_s=60, poll_s=0.05))
    conn = await asyncpg.connect(empty_database)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()
    assert await asyncio.wait_for(waiting, timeout=30) == expected_schema_version()


async def test_the_command_fails_loudly_when_postgres_never_comes() -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://pacer:secret-pw@127.0.0.1:{free_port()}/pacer",
        "SCHEMA_WAIT_SECONDS": "0.5",
        "SCHEMA_POLL_SECONDS": "0.1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pacer_common.migrations.wait",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 1
    assert b"schema-wait: after 0.5 s: Postgres: " in stderr
    # The password never reaches the logs.
    assert b"secret-pw" not in stdout + stderr
