"""Migration 0004 gives every existing session its family row, alive only if a token is."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from pacer_common.migrations import apply_migrations, available_migrations

FAMILIES_VERSION = 4


@pytest.fixture
async def database_before_families(migrated_postgres: str) -> AsyncIterator[asyncpg.Connection]:
    admin = await asyncpg.connect(migrated_postgres)
    await admin.execute("DROP DATABASE IF EXISTS families_probe WITH (FORCE)")
    await admin.execute("CREATE DATABASE families_probe")
    conn = await asyncpg.connect(migrated_postgres.rsplit("/", 1)[0] + "/families_probe")
    try:
        # The schema as it was before 0004, recorded as applied (as apply_migrations would).
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in available_migrations():
            if migration.version < FAMILIES_VERSION:
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
        yield conn
    finally:
        await conn.close()
        await admin.execute("DROP DATABASE IF EXISTS families_probe WITH (FORCE)")
        await admin.close()


async def test_existing_sessions_get_a_family_alive_only_with_a_live_token(
    database_before_families: asyncpg.Connection,
) -> None:
    conn = database_before_families
    user_id = await conn.fetchval(
        "INSERT INTO users (email, name, password_hash) VALUES ('a@example.com', 'A', 'x') "
        "RETURNING id"
    )
    live, logged_out, expired = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    tokens = [
        (live, "now() - interval '1 hour'", "now() + interval '1 day'"),
        (live, "NULL", "now() + interval '1 day'"),
        (logged_out, "now()", "now() + interval '1 day'"),
        (expired, "NULL", "now() - interval '1 second'"),
    ]
    for family, revoked_at, expires_at in tokens:
        await conn.execute(
            f"""INSERT INTO refresh_tokens (user_id, family_id, token_hash, revoked_at, expires_at)
                VALUES ($1, $2, $3, {revoked_at}, {expires_at})""",
            user_id,
            family,
            uuid.uuid4().bytes,
        )
    assert FAMILIES_VERSION in await apply_migrations(conn)
    rows = await conn.fetch("SELECT id, user_id, revoked_at IS NULL AS alive FROM refresh_families")
    assert {row["id"]: row["alive"] for row in rows} == {
        live: True,
        logged_out: False,
        expired: False,
    }
    assert {row["user_id"] for row in rows} == {user_id}
    # From now on a token cannot name a family that does not exist.
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute(
            """INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
               VALUES ($1, $2, $3, now())""",
            user_id,
            uuid.uuid4(),
            b"x",
        )
