"""The athlete's activities, check-ins, plan and goal as core-api's routes and the
coach's tools read and save them: the athlete's own saves and the coach's
applied proposals run exactly this SQL (core-api owns the tables; the coach is
an outside reader and writer through here, as :mod:`pacer_common.tables` lists).

The bodies are validated first (:mod:`pacer_common.athlete_schemas`); after the
commit, the caller asks for a briefing refresh
(:func:`pacer_common.jobs.queue.refresh_after_save`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any, Literal
from uuid import UUID

import asyncpg

from pacer_common.athlete_schemas import ActivityIn, GoalIn, PlanIn
from pacer_common.errors import AccountGone


def json_ready(row: asyncpg.Record) -> dict[str, Any]:
    """A row as JSON-ready values: dates in ISO 8601, numerics as floats."""
    out: dict[str, Any] = {}
    for key, value in dict(row).items():
        if key == "user_id":
            continue
        if isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        elif isinstance(value, UUID):
            value = str(value)
        elif value is not None and not isinstance(value, int | float | str | bool):
            value = float(value)  # Decimal from numeric columns
        out[key] = value
    return out


@contextlib.asynccontextmanager
async def owner_must_exist() -> AsyncIterator[None]:
    """A token outlives a deleted account by up to its TTL: its writes get 401, not 500."""
    try:
        yield
    except asyncpg.ForeignKeyViolationError:
        raise AccountGone() from None


CHECKIN_COLUMNS = "id, day AS date, sleep_hours, soreness, mood, note, created_at, updated_at"
ACTIVITY_COLUMNS = "id, sport, started_at, duration_s, distance_m, avg_hr, note, created_at"


def activity_values(activity: ActivityIn) -> tuple[object, ...]:
    """The activity's fields in the order of the columns the insert and the update list:
    sport, started_at, duration_s, distance_m, avg_hr, note."""
    return (
        activity.sport,
        activity.started_at,
        activity.duration_s,
        activity.distance_m,
        activity.avg_hr,
        activity.note,
    )


async def insert_activity(
    conn: asyncpg.Connection, user_id: UUID, activity: ActivityIn
) -> dict[str, Any]:
    async with owner_must_exist():
        row = await conn.fetchrow(
            f"""INSERT INTO activities (user_id, sport, started_at, duration_s, distance_m, avg_hr, note)
                VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ACTIVITY_COLUMNS}""",
            user_id,
            *activity_values(activity),
        )
    assert row is not None
    return json_ready(row)


PLAN_COLUMNS = "name, start_date, end_date, sessions_per_week, weekly_distance_m, updated_at"
GOAL_COLUMNS = "race_name, race_date, distance_m, target_time_s, updated_at"


async def put_plan(conn: asyncpg.Connection, user_id: UUID, plan: PlanIn) -> dict[str, Any]:
    return await _put_own_row(conn, user_id, "plans", dict(plan), PLAN_COLUMNS)


async def put_goal(conn: asyncpg.Connection, user_id: UUID, goal: GoalIn) -> dict[str, Any]:
    return await _put_own_row(conn, user_id, "goals", dict(goal), GOAL_COLUMNS)


async def _put_own_row(
    conn: asyncpg.Connection,
    user_id: UUID,
    table: Literal["plans", "goals"],
    fields: dict[str, Any],
    returning: str,
) -> dict[str, Any]:
    """Create or replace the athlete's one row of ``table`` (a plan, a goal): each of
    ``fields`` (the body's, named as its columns) set, updated_at now."""
    names = list(fields)
    values = ", ".join(f"${number}" for number in range(2, len(names) + 2))
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names)
    async with owner_must_exist():
        row = await conn.fetchrow(
            f"""INSERT INTO {table} (user_id, {", ".join(names)}) VALUES ($1, {values})
                ON CONFLICT (user_id) DO UPDATE SET {updates}, updated_at = now()
                RETURNING {returning}""",
            user_id,
            *fields.values(),
        )
    assert row is not None
    return json_ready(row)


async def get_plan(conn: asyncpg.Connection, user_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {PLAN_COLUMNS} FROM plans WHERE user_id = $1", user_id)
    return json_ready(row) if row is not None else None


async def get_goal(conn: asyncpg.Connection, user_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {GOAL_COLUMNS} FROM goals WHERE user_id = $1", user_id)
    return json_ready(row) if row is not None else None


async def activities_since(
    conn: asyncpg.Connection, user_id: UUID, days: int, limit: int
) -> list[dict[str, Any]]:
    """The athlete's activities of the last ``days``, newest first, at most ``limit``."""
    rows = await conn.fetch(
        f"""SELECT {ACTIVITY_COLUMNS} FROM activities
            WHERE user_id = $1 AND started_at >= now() - make_interval(days => $2)
            ORDER BY started_at DESC LIMIT $3""",
        user_id,
        days,
        limit,
    )
    return [json_ready(row) for row in rows]


async def checkins_since(
    conn: asyncpg.Connection, user_id: UUID, days: int, limit: int
) -> list[dict[str, Any]]:
    """The athlete's check-ins of the last ``days`` (UTC days), newest first, at most ``limit``."""
    # `$2::integer`: left untyped, Postgres reads `date - $2` as date - date (an integer).
    rows = await conn.fetch(
        f"""SELECT {CHECKIN_COLUMNS} FROM checkins
            WHERE user_id = $1 AND day > (now() AT TIME ZONE 'UTC')::date - $2::integer
            ORDER BY day DESC LIMIT $3""",
        user_id,
        days,
        limit,
    )
    return [json_ready(row) for row in rows]


Change = ActivityIn | PlanIn | GoalIn
# What a change is called in a refresh's reason and a proposal's ``kind``.
ChangeKind = Literal["activity", "plan", "goal"]


def kind_of(change: Change) -> ChangeKind:
    if isinstance(change, ActivityIn):
        return "activity"
    return "plan" if isinstance(change, PlanIn) else "goal"


async def save_change(conn: asyncpg.Connection, user_id: UUID, change: Change) -> dict[str, Any]:
    """Store one validated change as the athlete's own save would; the saved row, JSON-ready."""
    if isinstance(change, ActivityIn):
        return await insert_activity(conn, user_id, change)
    if isinstance(change, PlanIn):
        return await put_plan(conn, user_id, change)
    return await put_goal(conn, user_id, change)
