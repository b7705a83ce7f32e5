from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from fixtures.infra import scratch_database
from pacer_common.migrations import (
    apply_migrations,
    available_migrations,
    current_schema_version,
    expected_schema_version,
)

MIGRATIONS_DIR = Path(__file__).parents[2] / "libs/common/src/pacer_common/migrations"


@pytest.fixture
async def empty_database(migrated_postgres: str) -> AsyncIterator[str]:
    async with scratch_database(migrated_postgres, "migrations_probe") as url:
        yield url


def test_migration_files_are_numbered_without_gaps() -> None:
    versions = [migration.version for migration in available_migrations()]
    assert versions == list(range(1, len(versions) + 1))
    assert expected_schema_version() == versions[-1]


async def test_concurrent_appliers_apply_each_migration_once(empty_database: str) -> None:
    connections = [await asyncpg.connect(empty_database) for _ in range(4)]
    try:
        results = await asyncio.gather(*(apply_migrations(conn) for conn in connections))
        applied = sorted(version for result in results for version in result)
        assert applied == [m.version for m in available_migrations()]
        assert await current_schema_version(connections[0]) == expected_schema_version()
        # Running again is a no-op.
        assert await apply_migrations(connections[0]) == []
    finally:
        for conn in connections:
            await conn.close()


async def test_an_empty_database_reports_version_zero(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        assert await current_schema_version(conn) == 0
    finally:
        await conn.close()


def _tables_created() -> set[str]:
    sql = "\n".join(path.read_text() for path in MIGRATIONS_DIR.glob("*.sql"))
    return set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", sql)) | {"schema_migrations"}


# Not tables: SQL keywords and the catalog and set-returning functions that follow FROM.
NOT_TABLES = {
    "select",
    "lateral",
    "pg_stat_activity",
    "pg_tables",
    "schema_migrations",
    "generate_series",
}


def common_table_expressions(code: str) -> set[str]:
    """The names ``WITH name AS (`` and ``, name AS (`` give a query's own parts."""
    return set(re.findall(r"(?:WITH|,)\s+([a-z_][a-z0-9_]*)\s+AS\s+\(", code))


def test_no_query_touches_a_table_that_no_migration_creates() -> None:
    # Seed 000 logged a missing-table warning on every request: catch that here.
    sources = Path(__file__).parents[2]
    code = "\n".join(
        path.read_text()
        for folder in ("services", "libs")
        for path in (sources / folder).rglob("*.py")
    )
    # `extract(epoch FROM ...)` is not a table reference.
    code = re.sub(r"epoch FROM", "", code)
    referenced = set(re.findall(r"\b(?:FROM|JOIN|INTO|UPDATE|TRUNCATE)\s+([a-z_][a-z0-9_]*)", code))
    referenced -= NOT_TABLES | common_table_expressions(code) | {"schema_migrations"}
    missing = referenced - _tables_created()
    assert not missing, f"queries touch tables no migration creates: {sorted(missing)}"


# Who may run SQL on which table, outside pacer_common/tables/ (the one home of
# SQL that crosses an owner's line; see its docstring and each migration's notes).
OWN_TABLES = {
    "services/core-api": {
        "users",
        "refresh_tokens",
        "refresh_families",
        "checkins",
        "activities",
        "plans",
        "goals",
        "topics",
    },
    "services/coach": {
        "conversations",
        "messages",
        "chat_quota",
        "idempotency_keys",
        "coach_sessions",
    },
    "services/briefing-worker": set(),
    # The shared library's own owners: the jobs ledger and the LLM usage sink.
    "libs/common/src/pacer_common/jobs": {"jobs"},
    "libs/common/src/pacer_common/llm": {"llm_usage"},
}


@pytest.mark.parametrize("folder", sorted(OWN_TABLES))
def test_sql_on_another_owners_table_lives_in_pacer_common_tables(folder: str) -> None:
    root = Path(__file__).parents[2] / folder
    touched: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        code = re.sub(r"epoch FROM", "", path.read_text())
        not_tables = NOT_TABLES | common_table_expressions(code)
        for table in re.findall(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+([a-z_][a-z0-9_]*)", code):
            if table not in not_tables and table not in OWN_TABLES[folder]:
                touched.setdefault(table, set()).add(str(path.relative_to(root)))
    assert not touched, f"{folder} runs SQL on tables it does not own: {touched}"


def test_every_table_names_its_owner_or_outside_users() -> None:
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        text = path.read_text()
        for match in re.finditer(r"CREATE TABLE (\w+)", text):
            comment = text[: match.start()].rsplit(";\n", 1)[-1]
            assert re.search(r"Outside (readers|writer)|Owner", comment), (
                f"{path.name}: {match[1]} does not say who owns it or who else reads it"
            )
