"""The athlete's training load by week, read in one query.

A training week starts on Monday, 00:00 UTC, as on Home
(:mod:`pacer_core_api.store.summary`): an activity belongs to the week its
``started_at`` falls in, in UTC, and a check-in to the week of its ``day``.
Both scans are index range scans: ``activities_user_started_idx`` and the
``UNIQUE (user_id, day)`` index of ``checkins``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import asyncpg

# $1 the athlete, $2 the first week's Monday, $3 the number of weeks, $4 that
# Monday at 00:00 UTC. Weeks with nothing in them come from generate_series.
_WEEKLY_SQL = """
WITH weeks AS (
    SELECT ($2::date + 7 * i) AS week_start FROM generate_series(0, $3::int - 1) AS i
), load AS (
    SELECT date_trunc('week', started_at AT TIME ZONE 'UTC')::date AS week_start,
           count(*) AS sessions, sum(distance_m) AS distance_m, sum(duration_s) AS duration_s
    FROM activities
    WHERE user_id = $1 AND started_at >= $4
    GROUP BY 1
), feel AS (
    SELECT date_trunc('week', day::timestamp)::date AS week_start, count(*) AS checkins,
           round(avg(sleep_hours), 2) AS sleep_hours, round(avg(soreness), 2) AS soreness,
           round(avg(mood), 2) AS mood
    FROM checkins
    WHERE user_id = $1 AND day >= $2
    GROUP BY 1
)
SELECT weeks.week_start,
       coalesce(load.sessions, 0) AS sessions,
       coalesce(load.distance_m, 0) AS distance_m,
       coalesce(load.duration_s, 0) AS duration_s,
       coalesce(feel.checkins, 0) AS checkins,
       coalesce(feel.sleep_hours, 0) AS sleep_hours,
       coalesce(feel.soreness, 0) AS soreness,
       coalesce(feel.mood, 0) AS mood
FROM weeks
LEFT JOIN load USING (week_start)
LEFT JOIN feel USING (week_start)
ORDER BY weeks.week_start
"""


def week_start(now: dt.datetime) -> dt.date:
    """The Monday (UTC) of the training week ``now`` falls in."""
    today = now.astimezone(dt.UTC).date()
    return today - dt.timedelta(days=today.weekday())


async def weekly_load(
    conn: asyncpg.Connection, user_id: UUID, *, weeks: int, now: dt.datetime
) -> list[dict[str, Any]]:
    """The last ``weeks`` weeks, oldest first; the last one is the current week.

    A week without check-ins has ``checkins: 0`` and zeros for the averages.
    """
    first = week_start(now) - dt.timedelta(weeks=weeks - 1)
    first_at = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    rows = await conn.fetch(_WEEKLY_SQL, user_id, first, weeks, first_at)
    return [
        {
            "week_start": row["week_start"].isoformat(),
            "sessions": int(row["sessions"]),
            "distance_m": float(row["distance_m"]),
            "duration_s": int(row["duration_s"]),
            "checkins": int(row["checkins"]),
            "sleep_hours": float(row["sleep_hours"]),
            "soreness": float(row["soreness"]),
            "mood": float(row["mood"]),
        }
        for row in rows
    ]
