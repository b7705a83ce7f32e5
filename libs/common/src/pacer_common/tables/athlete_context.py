"""Reads of core-api's athlete tables by the coach and the briefing worker.

The athlete's recent data as an LLM prompt sees it (the coach's chat prompt and
the worker's daily briefing), and who has been active lately (the worker's cron).
"""

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


def describe_athlete(context: AthleteContext, today: dt.date) -> str:
    """The athlete's data as prompt text; the briefing worker fingerprints exactly this."""
    lines = [f"Athlete: {context.name}. Today is {today.isoformat()} (UTC)."]
    for checkin in context.checkins:
        lines.append(
            f"Check-in {checkin['day']}: slept {float(checkin['sleep_hours']):g} h, "
            f"soreness {checkin['soreness']}/5, mood {checkin['mood']}/5"
            + (f", note: {checkin['note']}" if checkin["note"] else "")
        )
    for activity in context.activities:
        distance = (
            f", {float(activity['distance_m']) / 1000:.1f} km" if activity["distance_m"] else ""
        )
        heart_rate = f", avg HR {activity['avg_hr']}" if activity["avg_hr"] else ""
        lines.append(
            f"Activity {activity['started_at']:%Y-%m-%d}: {activity['sport']}, "
            f"{activity['duration_s'] // 60} min{distance}{heart_rate}"
        )
    if context.goal is not None:
        goal = context.goal
        lines.append(
            f"Goal race: {goal['race_name']} on {goal['race_date']}, "
            f"{float(goal['distance_m']) / 1000:.1f} km"
            + (f", target {goal['target_time_s'] // 60} min" if goal["target_time_s"] else "")
        )
    if context.plan is not None:
        plan = context.plan
        lines.append(
            f"Plan: {plan['name']}, {plan['start_date']} to {plan['end_date']}, "
            f"{plan['sessions_per_week']} sessions a week"
        )
    if len(lines) == 1:
        lines.append("No check-ins, activities, goal or plan logged yet.")
    return "\n".join(lines)


async def recently_active_athletes(conn: asyncpg.Connection, days: int) -> list[UUID]:
    """Athletes who saved a check-in, activity, plan or goal in the last ``days``."""
    rows = await conn.fetch(
        """SELECT user_id FROM checkins WHERE updated_at >= now() - make_interval(days => $1)
           UNION
           SELECT user_id FROM activities WHERE created_at >= now() - make_interval(days => $1)
           UNION
           SELECT user_id FROM plans WHERE updated_at >= now() - make_interval(days => $1)
           UNION
           SELECT user_id FROM goals WHERE updated_at >= now() - make_interval(days => $1)""",
        days,
    )
    return [row["user_id"] for row in rows]
