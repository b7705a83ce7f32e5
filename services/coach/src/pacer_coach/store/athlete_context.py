"""The athlete's recent data, read for the coach's prompt (tables owned by core-api)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

RECENT_DAYS = 14
MAX_CHECKINS = 5
MAX_ACTIVITIES = 8


@dataclass(frozen=True)
class AthleteContext:
    name: str
    checkins: list[asyncpg.Record] = field(default_factory=list)
    activities: list[asyncpg.Record] = field(default_factory=list)
    goal: asyncpg.Record | None = None
    plan: asyncpg.Record | None = None


async def athlete_context(
    conn: asyncpg.Connection, user_id: UUID, now: dt.datetime
) -> AthleteContext:
    since = now - dt.timedelta(days=RECENT_DAYS)
    name = await conn.fetchval("SELECT name FROM users WHERE id = $1", user_id)
    checkins = await conn.fetch(
        """SELECT day, sleep_hours, soreness, mood, note FROM checkins
           WHERE user_id = $1 AND day >= $2 ORDER BY day DESC LIMIT $3""",
        user_id,
        since.date(),
        MAX_CHECKINS,
    )
    activities = await conn.fetch(
        """SELECT sport, started_at, duration_s, distance_m, avg_hr FROM activities
           WHERE user_id = $1 AND started_at >= $2 ORDER BY started_at DESC LIMIT $3""",
        user_id,
        since,
        MAX_ACTIVITIES,
    )
    goal = await conn.fetchrow(
        "SELECT race_name, race_date, distance_m, target_time_s FROM goals WHERE user_id = $1",
        user_id,
    )
    plan = await conn.fetchrow(
        "SELECT name, start_date, end_date, sessions_per_week, weekly_distance_m FROM plans WHERE user_id = $1",
        user_id,
    )
    return AthleteContext(name or "athlete", list(checkins), list(activities), goal, plan)
