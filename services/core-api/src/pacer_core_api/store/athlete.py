"""The athlete's own data: check-ins, activities, plan and goal."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import asyncpg

from pacer_common.tables.athlete_data import (
    ACTIVITY_COLUMNS,
    CHECKIN_COLUMNS,
    activity_values,
    get_goal,
    get_plan,
    insert_activity,
    json_ready,
    owner_must_exist,
    put_goal,
    put_plan,
)
from pacer_common.web.keyset_cursor import KeysetCursor
from pacer_core_api.schemas import ActivityIn, CheckinIn

# The saves of an activity, plan and goal are shared with the coach's applied proposals.
__all__ = ["get_goal", "get_plan", "insert_activity", "put_goal", "put_plan"]


async def upsert_checkin(
    conn: asyncpg.Connection, user_id: UUID, checkin: CheckinIn
) -> tuple[dict[str, Any], bool]:
    """Save the day's check-in, replacing an earlier one; return (checkin, created)."""
    day = checkin.date or dt.datetime.now(dt.UTC).date()
    async with owner_must_exist():
        row = await conn.fetchrow(
            f"""INSERT INTO checkins (user_id, day, sleep_hours, soreness, mood, note)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (user_id, day) DO UPDATE SET
                    sleep_hours = EXCLUDED.sleep_hours, soreness = EXCLUDED.soreness,
                    mood = EXCLUDED.mood, note = EXCLUDED.note, updated_at = now()
                RETURNING {CHECKIN_COLUMNS}, (xmax = 0) AS created""",
            user_id,
            day,
            checkin.sleep_hours,
            checkin.soreness,
            checkin.mood,
            checkin.note,
        )
    assert row is not None
    body = json_ready(row)
    created = bool(body.pop("created"))
    return body, created


async def list_checkins(
    conn: asyncpg.Connection, user_id: UUID, *, limit: int, before: dt.date | None
) -> list[dict[str, Any]]:
    """One page, newest first; a day alone is a keyset: an athlete has one check-in a day."""
    rows = await conn.fetch(
        f"""SELECT {CHECKIN_COLUMNS} FROM checkins
            WHERE user_id = $1 AND ($2::date IS NULL OR day < $2)
            ORDER BY day DESC LIMIT $3""",
        user_id,
        before,
        limit,
    )
    return [json_ready(row) for row in rows]


async def update_activity(
    conn: asyncpg.Connection, user_id: UUID, activity_id: UUID, activity: ActivityIn
) -> dict[str, Any] | None:
    """Replace every field of the athlete's activity; None if they have no such activity."""
    row = await conn.fetchrow(
        f"""UPDATE activities SET sport = $3, started_at = $4, duration_s = $5,
                distance_m = $6, avg_hr = $7, note = $8
            WHERE id = $1 AND user_id = $2 RETURNING {ACTIVITY_COLUMNS}""",
        activity_id,
        user_id,
        *activity_values(activity),
    )
    return None if row is None else json_ready(row)


async def delete_activity(conn: asyncpg.Connection, user_id: UUID, activity_id: UUID) -> bool:
    """True if the athlete had this activity (now gone)."""
    deleted = await conn.fetchval(
        "DELETE FROM activities WHERE id = $1 AND user_id = $2 RETURNING id",
        activity_id,
        user_id,
    )
    return deleted is not None


async def list_activities(
    conn: asyncpg.Connection, user_id: UUID, *, limit: int, before: KeysetCursor | None
) -> list[dict[str, Any]]:
    """One page, newest first; ``id`` breaks ties so that a keyset cursor resumes exactly
    after its row. A cursor without an id (a plain time) matches no tie: strictly earlier."""
    rows = await conn.fetch(
        f"""SELECT {ACTIVITY_COLUMNS} FROM activities
            WHERE user_id = $1
              AND ($2::timestamptz IS NULL OR started_at < $2 OR (started_at = $2 AND id < $3))
            ORDER BY started_at DESC, id DESC LIMIT $4""",
        user_id,
        None if before is None else before.at,
        None if before is None else before.id,
        limit,
    )
    return [json_ready(row) for row in rows]
