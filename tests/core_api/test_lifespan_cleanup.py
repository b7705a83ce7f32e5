"""A start-up that fails half-way closes what it had opened: no Postgres
connection is left behind by a failed migration or an unreadable key.

core-api's lifespan, and the coach's (same helpers, so here too)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from starlette.applications import Starlette

from fixtures.coach import coach_settings
from fixtures.core_api import core_api_settings
from fixtures.waiting import poll
from pacer_coach.chat.streams import OpenStreams
from pacer_coach.lifespan import lifespan_for as coach_lifespan_for
from pacer_core_api.lifespan import lifespan_for

CLOSE_DEADLINE_S = 5.0


@pytest.fixture
async def scratch_database(postgres_url: str) -> AsyncIterator[str]:
    """A database of this test's own, so that its connections can be counted alone."""
    name = f"lifespan_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(postgres_url)
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def connections_to(postgres_url: str, database_url: str) -> int:
    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(postgres_url)
    try:
        count = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name
        )
    finally:
        await admin.close()
    return int(count)


async def wait_for_no_connections(postgres_url: str, database_url: str) -> int:
    """0 once the server has dropped every backend of the database; else the last count."""
    counts: list[int] = []

    async def none_left() -> bool:
        counts.append(await connections_to(postgres_url, database_url))
        return counts[-1] == 0

    # On time-out the caller asserts on the count, which says how many were left.
    with contextlib.suppress(AssertionError):
        await poll(none_left, timeout_s=CLOSE_DEADLINE_S, what="no connections left")
    return counts[-1]


def unreadable_key(tmp_path: Path, name: str) -> Path:
    key = tmp_path / name
    key.write_text("not a PEM key\n")
    return key


async def assert_start_up_fails_leaving_no_connection(
    lifespan: AbstractAsyncContextManager[object],
    error: type[BaseException],
    postgres_url: str,
    database_url: str,
) -> None:
    with pytest.raises(error) as failed:
        async with lifespan:
            pytest.fail("the start-up should have failed")

    # `failed` holds the traceback, and with it the start-up's frames and its
    # pool: only an explicit close can have ended the connections.
    assert failed.value is not None
    assert await wait_for_no_connections(postgres_url, database_url) == 0


async def test_a_start_up_whose_migration_fails_leaves_no_open_postgres_connection(
    postgres_url: str,
    scratch_database: str,
    redis_url: str,
    jwt_key_files: tuple[Path, Path],
) -> None:
    # A table in the way: migration 0001's CREATE TABLE users fails.
    conn = await asyncpg.connect(scratch_database)
    try:
        await conn.execute("CREATE TABLE users (id integer)")
    finally:
        await conn.close()
    settings = core_api_settings(
        scratch_database, redis_url, jwt_key_files, RUN_MIGRATIONS_ON_STARTUP=True
    )
    await assert_start_up_fails_leaving_no_connection(
        lifespan_for(settings)(Starlette()),
        asyncpg.DuplicateTableError,
        postgres_url,
        scratch_database,
    )


async def test_a_start_up_with_an_unreadable_signing_key_leaves_no_open_postgres_connection(
    postgres_url: str,
    scratch_database: str,
    redis_url: str,
    jwt_key_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    # The pool is open (and the migrations applied) before the key is read.
    settings = core_api_settings(
        scratch_database,
        redis_url,
        jwt_key_files,
        RUN_MIGRATIONS_ON_STARTUP=True,
        JWT_PRIVATE_KEY_FILE=unreadable_key(tmp_path, "private.pem"),
    )
    await assert_start_up_fails_leaving_no_connection(
        lifespan_for(settings)(Starlette()), ValueError, postgres_url, scratch_database
    )


async def test_a_coach_start_up_with_an_unreadable_public_key_leaves_no_open_postgres_connection(
    postgres_url: str, scratch_database: str, jwt_key_files: tuple[Path, Path], tmp_path: Path
) -> None:
    # The coach opens its pool (and its LLM client) before it reads the key.
    settings = coach_settings(
        scratch_database,
        jwt_key_files,
        "http://127.0.0.1:9",  # never called: the start-up fails first
        JWT_PUBLIC_KEY_FILE=unreadable_key(tmp_path, "public.pem"),
    )
    await assert_start_up_fails_leaving_no_connection(
        coach_lifespan_for(settings, OpenStreams.from_settings(settings))(Starlette()),
        ValueError,
        postgres_url,
        scratch_database,
    )
