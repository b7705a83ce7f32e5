"""The athlete's own data: check-ins, activities, plan and goal."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any, Literal
from uuid import UUID

import asyncpg

from pacer_common.errors import AccountGone
from pacer_core_api.schemas import ActivityIn, CheckinIn, GoalIn, PlanIn


def _json_ready(row: asyncpg.Record) -> dict[str, Any]:
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
async def _owner_must_exist() -> AsyncIterator[None]:
    """A token outlives a deleted account by up to its TTL: its writes get 401, not 500."""
    try:
        yield
    except asyncpg.ForeignKeyViolationError:
        raise AccountGone() from None


_CHECKIN_COLUMNS = "id, day AS date, sleep_hours, soreness, mood, note, created_at, updated_at"


async def upsert_checkin(
    conn: asyncpg.Connection, user_id: UUID, checkin: CheckinIn
) -> tuple[dict[str, Any], bool]:
    """Save the day's check-in, replacing an earlier one; return (checkin, created)."""
    day = checkin.date or dt.datetime.now(dt.UTC).date()
    async with _owner_must_exist():
        row = await conn.fetchrow(
            f"""INSERT INTO checkins (user_id, day, sleep_hours, soreness, mood, note)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (user_id, day) DO UPDATE SET
                    sleep_hours = EXCLUDED.sleep_hours, soreness = EXCLUDED.soreness,
                    mood = EXCLUDED.mood, note = EXCLUDED.note, updated_at = now()
                RETURNING {_CHECKIN_COLUMNS}, (xmax = 0) AS created""",
            user_id,
            day,
            checkin.sleep_hours,
            checkin.soreness,
            checkin.mood,
            checkin.note,
        )
    assert row is not None
    body = _json_ready(row)
    created = bool(body.pop("created"))
    return body, created


async def _newest_first(
    conn: asyncpg.Connection,
    table: Literal["checkins", "activities"],
    columns: str,
    key: tuple[str, str],
    user_id: UUID,
    *,
    limit: int,
    before: object,
) -> list[dict[str, Any]]:
    """One page of the athlete's rows, newest first by ``key`` (column, SQL type), those
    before ``before`` when it is given."""
    column, sql_type = key
    rows = await conn.fetch(
        f"""SELECT {columns} FROM {table}
            WHERE user_id = $1 AND ($2::{sql_type} IS NULL OR {column} < $2)
            ORDER BY {column} DESC LIMIT $3""",
        user_id,
        before,
        limit,
    )
    return [_json_ready(row) for row in rows]


async def list_checkins(
    conn: asyncpg.Connection, user_id: UUID, *, limit: int, before: dt.date | None
) -> list[dict[str, Any]]:
    return await _newest_first(
        conn, "checkins", _CHECKIN_COLUMNS, ("day", "date"), user_id, limit=limit, before=before
    )


_ACTIVITY_COLUMNS = "id, sport, started_at, duration_s, distance_m, avg_hr, note, created_at"


def _activity_fields(activity: ActivityIn) -> tuple[Any, ...]:
    """The values an insert and an update write, in their columns' order."""
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
    async with _owner_must_exist():
        row = await conn.fetchrow(
            f"""INSERT INTO activities (user_id, sport, started_at, duration_s, distance_m, avg_hr, note)
                VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_ACTIVITY_COLUMNS}""",
            user_id,
            *_activity_fields(activity),
        )
    assert row is not None
    return _json_ready(row)


async def update_activity(
    conn: asyncpg.Connection, user_id: UUID, activity_id: UUID, activity: ActivityIn
) -> dict[str, Any] | None:
    """Replace every field of the athlete's activity; None if they have no such activity."""
    row = await conn.fetchrow(
        f"""UPDATE activities SET sport = $3, started_at = $4, duration_s = $5,
                distance_m = $6, avg_hr = $7, note = $8
            WHERE id = $1 AND user_id = $2 RETURNING {_ACTIVITY_COLUMNS}""",
        activity_id,
        user_id,
        *_activity_fields(activity),
    )
    return None if row is None else _json_ready(row)


async def delete_activity(conn: asyncpg.Connection, user_id: UUID, activity_id: UUID) -> bool:
    """True if the athlete had this activity (now gone)."""
    deleted = await conn.fetchval(
        "DELETE FROM activities WHERE id = $1 AND user_id = $2 RETURNING id",
        activity_id,
        user_id,
    )
    return deleted is not None


async def list_activities(
    conn: asyncpg.Connection, user_id: UUID, *, limit: int, before: dt.datetime | None
) -> list[dict[str, Any]]:
    return await _newest_first(
        conn,
        "activities",
        _ACTIVITY_COLUMNS,
        ("started_at", "timestamptz"),
        user_id,
        limit=limit,
        before=before,
    )


_PLAN_COLUMNS = "name, start_date, end_date, sessions_per_week, weekly_distance_m, updated_at"


async def put_plan(conn: asyncpg.Connection, user_id: UUID, plan: PlanIn) -> dict[str, Any]:
    async with _owner_must_exist():
        row = await conn.fetchrow(
            f"""INSERT INTO plans (user_id, name, start_date, end_date, sessions_per_week, weekly_distance_m)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (user_id) DO UPDATE SET
                    name = EXCLUDED.name, start_date = EXCLUDED.start_date,
                    end_date = EXCLUDED.end_date, sessions_per_week = EXCLUDED.sessions_per_week,
                    weekly_distance_m = EXCLUDED.weekly_distance_m, updated_at = now()
                RETURNING {_PLAN_COLUMNS}""",
            user_id,
            plan.name,
            plan.start_date,
            plan.end_date,
            plan.sessions_per_week,
            plan.weekly_distance_m,
        )
    assert row is not None
    return _json_ready(row)


async def get_plan(conn: asyncpg.Connection, user_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {_PLAN_COLUMNS} FROM plans WHERE user_id = $1", user_id)
    return _json_ready(row) if row is not None else None


_GOAL_COLUMNS = "race_name, race_date, distance_m, target_time_s, updated_at"


async def put_goal(conn: asyncpg.Connection, user_id: UUID, goal: GoalIn) -> dict[str, Any]:
    async with _owner_must_exist():
        row = await conn.fetchrow(
            f"""INSERT INTO goals (user_id, race_name, race_date, distance_m, target_time_s)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (user_id) DO UPDATE SET
                    race_name = EXCLUDED.race_name, race_date = EXCLUDED.race_date,
                    distance_m = EXCLUDED.distance_m, target_time_s = EXCLUDED.target_time_s,
                    updated_at = now()
                RETURNING {_GOAL_COLUMNS}""",
            user_id,
            goal.race_name,
            goal.race_date,
            goal.distance_m,
            goal.target_time_s,
        )
    assert row is not None
    return _json_ready(row)


async def get_goal(conn: asyncpg.Connection, user_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {_GOAL_COLUMNS} FROM goals WHERE user_id = $1", user_id)
    return _json_ready(row) if row is not None else None
