"""The read tools, called as a reply's tool round calls them, on the database."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from pacer_coach.tools import reads
from pacer_coach.tools.base import ToolContext


@pytest.fixture
async def context(pg_pool: asyncpg.Pool) -> AsyncIterator[ToolContext]:
    """A fresh athlete's tool context, deleted (with its rows) after the test."""
    user_id = await pg_pool.fetchval(
        "INSERT INTO users (email, password_hash, name) VALUES ($1, 'x', 'Wording') RETURNING id",
        f"wording-{uuid.uuid4()}@example.com",
    )
    yield ToolContext(pg_pool, user_id, uuid.uuid4(), 0, 60.0)
    await pg_pool.execute("DELETE FROM users WHERE id = $1", user_id)


async def _add_activities(context: ToolContext, count: int) -> None:
    await context.pool.execute(
        """INSERT INTO activities (user_id, sport, started_at, duration_s)
           SELECT $1, 'run', now() - make_interval(hours => n), 1800
           FROM generate_series(1, $2) AS n""",
        context.user_id,
        count,
    )


async def _add_checkins(context: ToolContext, count: int) -> None:
    await context.pool.execute(
        """INSERT INTO checkins (user_id, day, sleep_hours, soreness, mood)
           SELECT $1, (now() AT TIME ZONE 'UTC')::date - n, 7, 2, 3
           FROM generate_series(0, $2 - 1) AS n""",
        context.user_id,
        count,
    )


async def test_recent_checkins_reads_the_days_asked_for(context: ToolContext) -> None:
    """Today and the days before it: ``days=3`` is today and the two days before."""
    await _add_checkins(context, 5)
    answer = await reads.recent_checkins(context, reads.DaysArguments(days=3))
    today = await context.pool.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")
    assert [item["date"] for item in answer.content["checkins"]] == [
        (today - dt.timedelta(days=n)).isoformat() for n in range(3)
    ]
    assert answer.content["truncated"] is False
