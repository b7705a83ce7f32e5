"""The read tools, called as a reply's tool round calls them, on the database; their
lines for the athlete are English for every count ("1 activity", "the last day", never
"1 activities" or "the last 1 days")."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from pacer_coach.tools import reads
from pacer_coach.tools.base import ToolContext
from pacer_coach.tools.catalogue import TOOLS


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


@pytest.mark.parametrize(
    ("count", "days", "line"),
    [
        (0, 28, "0 activities in the last 28 days"),
        (1, 7, "1 activity in the last 7 days"),
        (2, 7, "2 activities in the last 7 days"),
        (1, 1, "1 activity in the last day"),
    ],
)
async def test_recent_activities_line(
    context: ToolContext, count: int, days: int, line: str
) -> None:
    await _add_activities(context, count)
    answer = await reads.recent_activities(context, reads.DaysArguments(days=days))
    assert answer.summary == line


@pytest.mark.parametrize(
    ("count", "days", "line"),
    [
        (0, 28, "0 check-ins in the last 28 days"),
        (1, 7, "1 check-in in the last 7 days"),
        (3, 7, "3 check-ins in the last 7 days"),
        (1, 1, "1 check-in in the last day"),
    ],
)
async def test_recent_checkins_line(context: ToolContext, count: int, days: int, line: str) -> None:
    await _add_checkins(context, count)
    answer = await reads.recent_checkins(context, reads.DaysArguments(days=days))
    assert answer.summary == line


@pytest.mark.parametrize("name", ["recent_activities", "recent_checkins"])
@pytest.mark.parametrize(
    ("days", "line"), [(1, "Looking at your last day…"), (28, "Looking at your last 28 days…")]
)
def test_running_line(name: str, days: int, line: str) -> None:
    assert TOOLS[name].running(reads.DaysArguments(days=days)) == line
