"""The athlete summary that home shows, read in one round trip."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True, slots=True)
class LastCheckin:
    date: dt.date
    sleep_hours: float
    soreness: int
    mood: int


@dataclass(frozen=True, slots=True)
class Race:
    name: str
    date: dt.date
    distance_m: float
    target_time_s: int | None
    days_to_race: int


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    sessions_per_week: int
    weekly_distance_m: float | None


@dataclass(frozen=True, slots=True)
class AthleteSummary:
    today: dt.date
    week_start: dt.date
    week_distance_m: float
    week_duration_s: int
    week_sessions: int
    last_checkin: LastCheckin | None
    next_race: Race | None
    plan: Plan | None

    def as_json(self) -> dict[str, Any]:
        checkin = self.last_checkin
        race = self.next_race
        return {
            "week": {
                "start": self.week_start.isoformat(),
                "distance_m": self.week_distance_m,
                "duration_s": self.week_duration_s,
                "sessions": self.week_sessions,
            },
            "last_checkin": None
            if checkin is None
            else {
                "date": checkin.date.isoformat(),
                "sleep_hours": checkin.sleep_hours,
                "soreness": checkin.soreness,
                "mood": checkin.mood,
            },
            "next_race": None
            if race is None
            else {
                "race_name": race.name,
                "race_date": race.date.isoformat(),
                "distance_m": race.distance_m,
                "target_time_s": race.target_time_s,
                "days_to_race": race.days_to_race,
            },
            "plan": None
            if self.plan is None
            else {
                "name": self.plan.name,
                "sessions_per_week": self.plan.sessions_per_week,
                "weekly_distance_m": self.plan.weekly_distance_m,
            },
        }


_SUMMARY_SQL = """
SELECT w.distance_m AS week_distance_m, w.duration_s AS week_duration_s, w.sessions AS week_sessions,
       c.day AS checkin_day, c.sleep_hours, c.soreness, c.mood,
       g.race_name, g.race_date, g.distance_m AS race_distance_m, g.target_time_s,
       p.name AS plan_name, p.sessions_per_week, p.weekly_distance_m
FROM (
    SELECT coalesce(sum(distance_m), 0) AS distance_m, coalesce(sum(duration_s), 0) AS duration_s,
           count(*) AS sessions
    FROM activities WHERE user_id = $1 AND started_at >= $2
) w
LEFT JOIN LATERAL (
    SELECT day, sleep_hours, soreness, mood FROM checkins
    WHERE user_id = $1 ORDER BY day DESC LIMIT 1
) c ON true
LEFT JOIN goals g ON g.user_id = $1 AND g.race_date >= $3
LEFT JOIN plans p ON p.user_id = $1
"""


async def athlete_summary(
    conn: asyncpg.Connection, user_id: UUID, now: dt.datetime
) -> AthleteSummary:
    today = now.astimezone(dt.UTC).date()
    # The training week starts on Monday, 00:00 UTC.
    week_start = today - dt.timedelta(days=today.weekday())
    week_start_at = dt.datetime.combine(week_start, dt.time(), tzinfo=dt.UTC)
    row = await conn.fetchrow(_SUMMARY_SQL, user_id, week_start_at, today)
    assert row is not None
    checkin = (
        None
        if row["checkin_day"] is None
        else LastCheckin(
            date=row["checkin_day"],
            sleep_hours=float(row["sleep_hours"]),
            soreness=row["soreness"],
            mood=row["mood"],
        )
    )
    race = (
        None
        if row["race_name"] is None
        else Race(
            name=row["race_name"],
            date=row["race_date"],
            distance_m=float(row["race_distance_m"]),
            target_time_s=row["target_time_s"],
            days_to_race=(row["race_date"] - today).days,
        )
    )
    plan = (
        None
        if row["plan_name"] is None
        else Plan(
            name=row["plan_name"],
            sessions_per_week=row["sessions_per_week"],
            weekly_distance_m=None
            if row["weekly_distance_m"] is None
            else float(row["weekly_distance_m"]),
        )
    )
    return AthleteSummary(
        today=today,
        week_start=week_start,
        week_distance_m=float(row["week_distance_m"]),
        week_duration_s=int(row["week_duration_s"]),
        week_sessions=int(row["week_sessions"]),
        last_checkin=checkin,
        next_race=race,
        plan=plan,
    )
