"""GET /v1/stats/weekly: the training load by week (Monday 00:00 UTC), as Home counts it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from fixtures.core_api import Athlete, register_and_login
from fixtures.errors import assert_error
from pacer_core_api.store.weekly import _WEEKLY_SQL

ZERO_WEEK = {
    "sessions": 0,
    "distance_m": 0.0,
    "duration_s": 0,
    "checkins": 0,
    "sleep_hours": 0.0,
    "soreness": 0.0,
    "mood": 0.0,
}


def _monday(weeks_ago: int = 0) -> dt.date:
    today = dt.datetime.now(dt.UTC).date()
    return today - dt.timedelta(days=today.weekday(), weeks=weeks_ago)


def _at(day: dt.date, hour: int = 7, tz: dt.tzinfo = dt.UTC) -> str:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=tz).isoformat()


async def _weekly(client: httpx.AsyncClient, who: Athlete, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/stats/weekly", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["weeks"])


async def _activity(
    client: httpx.AsyncClient, who: Athlete, started_at: str, duration_s: int, distance_m: float
) -> None:
    body = {"sport": "run", "started_at": started_at, "duration_s": duration_s}
    body["distance_m"] = distance_m
    response = await client.post("/v1/activities", json=body, headers=who.headers)
    assert response.status_code == 201, response.text


async def _checkin(
    client: httpx.AsyncClient, who: Athlete, day: dt.date, sleep: float, soreness: int, mood: int
) -> None:
    body = {"date": day.isoformat(), "sleep_hours": sleep, "soreness": soreness, "mood": mood}
    response = await client.post("/v1/checkins", json=body, headers=who.headers)
    assert response.status_code == 201, response.text


async def test_a_new_athlete_gets_twelve_empty_weeks_ending_with_this_one(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    weeks = await _weekly(client, athlete)
    assert [week["week_start"] for week in weeks] == [
        _monday(ago).isoformat() for ago in range(11, -1, -1)
    ]
    assert all({k: v for k, v in week.items() if k != "week_start"} == ZERO_WEEK for week in weeks)
    assert [w["week_start"] for w in await _weekly(client, athlete, weeks=1)] == [
        _monday().isoformat()
    ]
    longest = await _weekly(client, athlete, weeks=52)
    assert len(longest) == 52 and longest[0]["week_start"] == _monday(51).isoformat()


async def test_each_activity_counts_in_its_utc_week(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    this_monday = dt.datetime.combine(_monday(), dt.time(), tzinfo=dt.UTC)
    # The first second of this week, and the last of the week before.
    await _activity(client, athlete, this_monday.isoformat(), 1800, 5000)
    await _activity(client, athlete, (this_monday - dt.timedelta(seconds=1)).isoformat(), 600, 1000)
    # Monday 01:00 at UTC+2 is Sunday 23:00 UTC: last week.
    await _activity(client, athlete, _at(_monday(), 1, dt.timezone(dt.timedelta(hours=2))), 60, 100)
    await _activity(client, athlete, _at(_monday(3)), 3600, 10_000.5)
    await _activity(client, athlete, _at(_monday(3) + dt.timedelta(days=6), 20), 1200, 3000)
    # Outside a 4-week window.
    await _activity(client, athlete, _at(_monday(4) + dt.timedelta(days=6), 23), 999, 999)

    weeks = await _weekly(client, athlete, weeks=4)
    assert [(w["week_start"], w["sessions"], w["distance_m"], w["duration_s"]) for w in weeks] == [
        (_monday(3).isoformat(), 2, 13_000.5, 4800),
        (_monday(2).isoformat(), 0, 0.0, 0),
        (_monday(1).isoformat(), 2, 1100.0, 660),
        (_monday(0).isoformat(), 1, 5000.0, 1800),
    ]
    # The week before the window shows up once the window covers it.
    assert (await _weekly(client, athlete, weeks=5))[0]["sessions"] == 1


async def test_check_ins_are_averaged_per_week(client: httpx.AsyncClient, athlete: Athlete) -> None:
    await _checkin(client, athlete, _monday(1), 7.0, 2, 4)
    await _checkin(client, athlete, _monday(1) + dt.timedelta(days=6), 8.5, 3, 3)
    await _checkin(client, athlete, _monday(1) + dt.timedelta(days=2), 6.0, 5, 2)
    await _checkin(client, athlete, _monday(), 9.0, 1, 5)
    last, this = (await _weekly(client, athlete, weeks=3))[1:]
    assert (last["checkins"], last["sleep_hours"], last["soreness"], last["mood"]) == (
        3,
        7.17,
        3.33,
        3.0,
    )
    assert (this["checkins"], this["sleep_hours"], this["soreness"], this["mood"]) == (
        1,
        9.0,
        1.0,
        5.0,
    )
    assert last["sessions"] == 0 and last["distance_m"] == 0.0


async def test_only_the_owner_s_data_is_counted(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    other = await register_and_login(client)
    await _activity(client, other, _at(_monday()), 3600, 12_000)
    await _checkin(client, other, _monday(), 5.0, 4, 2)
    await _activity(client, athlete, _at(_monday()), 1200, 4000)
    mine = (await _weekly(client, athlete, weeks=1))[0]
    assert (mine["sessions"], mine["distance_m"], mine["checkins"]) == (1, 4000.0, 0)


async def test_home_and_the_weekly_stats_agree(client: httpx.AsyncClient, athlete: Athlete) -> None:
    this_monday = dt.datetime.combine(_monday(), dt.time(), tzinfo=dt.UTC)
    for started, seconds, metres in [
        (this_monday, 2700, 8000.0),
        (max(this_monday, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)), 3300, 11_200.4),
        (this_monday - dt.timedelta(microseconds=1), 1800, 5000.0),
        (this_monday - dt.timedelta(days=9), 3600, 12_000.0),
    ]:
        await _activity(client, athlete, started.isoformat(), seconds, metres)
    response = await client.get("/v1/home", headers=athlete.headers)
    assert response.status_code == 200, response.text
    home_week = response.json()["summary"]["week"]
    weeks = await _weekly(client, athlete)
    this_week = weeks[-1]
    assert home_week == {
        "start": this_week["week_start"],
        "sessions": this_week["sessions"],
        "distance_m": this_week["distance_m"],
        "duration_s": this_week["duration_s"],
    }
    assert (this_week["sessions"], this_week["distance_m"]) == (2, 19_200.4)
    assert [week["sessions"] for week in weeks[-3:-1]] == [1, 1]


async def test_the_query_is_served_by_indexes(pg_pool: asyncpg.Pool) -> None:
    """Both tables are read by index range scans (seq scans are priced out of the
    tiny test tables' plan, so the plan shows which index can serve it)."""
    first = _monday(11)
    async with pg_pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            row[0]
            for row in await conn.fetch(
                f"EXPLAIN {_WEEKLY_SQL}",
                uuid.uuid4(),
                first,
                12,
                dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC),
            )
        )
    assert "activities_user_started_idx" in plan, plan
    assert "checkins_user_id_day_key" in plan, plan
    assert "Seq Scan on activities" not in plan and "Seq Scan on checkins" not in plan, plan


@pytest.mark.parametrize(
    "query",
    [
        "weeks=0",
        "weeks=53",
        "weeks=-1",
        "weeks=abc",
        "weeks=",
        "weeks=2.5",
        "weeks=1e1",
        "weeks=99999999999999999999",
        "weeks=%00",
        "weeks=%FF%FE",
        "weeks=12&weeks=abc",
        "week=12",
        "weeks=12&limit=5",
    ],
)
async def test_bad_input_is_422(client: httpx.AsyncClient, athlete: Athlete, query: str) -> None:
    response = await client.get(f"/v1/stats/weekly?{query}", headers=athlete.headers)
    assert_error(response, 422, "validation_error")


async def test_without_a_token_it_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/stats/weekly"), 401, "unauthorized")
    forged = {"Authorization": "Bearer not.a.jwt"}
    assert_error(await client.get("/v1/stats/weekly", headers=forged), 401, "invalid_token")


async def test_only_get_is_served(client: httpx.AsyncClient, athlete: Athlete) -> None:
    response = await client.post("/v1/stats/weekly", json={}, headers=athlete.headers)
    assert response.status_code == 405, response.text
