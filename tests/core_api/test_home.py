from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from fixtures.core_api import Athlete


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _monday() -> dt.date:
    return _today() - dt.timedelta(days=_today().weekday())


async def _home(client: httpx.AsyncClient, athlete: Athlete) -> dict[str, Any]:
    response = await client.get("/v1/home", headers=athlete.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _set_goal(
    client: httpx.AsyncClient, athlete: Athlete, race_name: str, race_date: dt.date, distance_m: int
) -> None:
    goal = {"race_name": race_name, "race_date": race_date.isoformat(), "distance_m": distance_m}
    response = await client.put("/v1/goal", headers=athlete.headers, json=goal)
    assert response.is_success, response.text


async def test_new_athlete_gets_an_empty_summary_and_a_rule_based_briefing(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    response = await client.get("/v1/home", headers=athlete.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["summary"]["week"] == {
        "start": _monday().isoformat(),
        "distance_m": 0.0,
        "duration_s": 0,
        "sessions": 0,
    }
    assert body["summary"]["last_checkin"] is None
    assert body["summary"]["next_race"] is None
    briefing = body["briefing"]
    assert briefing["source"] == "rules"
    # No LLM briefing yet: home asked the worker for one.
    assert briefing["status"] == "pending"
    assert "check-in" in briefing["text"]
    dt.datetime.fromisoformat(briefing["generated_at"])


async def test_summary_counts_this_week_only(client: httpx.AsyncClient, athlete: Athlete) -> None:
    monday = dt.datetime.combine(_monday(), dt.time(6), tzinfo=dt.UTC)
    this_week = [monday, monday + dt.timedelta(minutes=1)]
    last_week = monday - dt.timedelta(days=1)
    for started in [*this_week, last_week]:
        response = await client.post(
            "/v1/activities",
            headers=athlete.headers,
            json={
                "sport": "run",
                "started_at": started.isoformat(),
                "duration_s": 1800,
                "distance_m": 5000.0,
            },
        )
        assert response.status_code == 201, response.text
    week = (await _home(client, athlete))["summary"]["week"]
    assert week == {
        "start": _monday().isoformat(),
        "distance_m": 10000.0,
        "duration_s": 3600,
        "sessions": 2,
    }


async def test_summary_shows_last_checkin_and_next_race(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    yesterday = (_today() - dt.timedelta(days=1)).isoformat()
    await client.post(
        "/v1/checkins",
        headers=athlete.headers,
        json={"sleep_hours": 5.5, "soreness": 4, "mood": 3, "date": yesterday},
    )
    await _set_goal(client, athlete, "Berlin", _today() + dt.timedelta(days=10), 42195)
    body = await _home(client, athlete)
    assert body["summary"]["last_checkin"] == {
        "date": yesterday,
        "sleep_hours": 5.5,
        "soreness": 4,
        "mood": 3,
    }
    race = body["summary"]["next_race"]
    assert race["race_name"] == "Berlin"
    assert race["days_to_race"] == 10
    text = body["briefing"]["text"]
    # Sore and short of sleep → rest advice; a race within two weeks → taper.
    assert "easy" in text and "rest" in text
    assert "Berlin is in 10 days" in text and "taper" in text


async def test_a_past_race_is_not_the_next_race(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    await _set_goal(client, athlete, "Old race", _today() - dt.timedelta(days=3), 10000)
    body = await _home(client, athlete)
    assert body["summary"]["next_race"] is None


async def test_briefing_follows_the_plan_and_is_deterministic(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    await client.put(
        "/v1/plan",
        headers=athlete.headers,
        json={
            "name": "Base",
            "start_date": _monday().isoformat(),
            "end_date": (_monday() + dt.timedelta(days=70)).isoformat(),
            "sessions_per_week": 4,
            "weekly_distance_m": 40000,
        },
    )
    await client.post(
        "/v1/checkins", headers=athlete.headers, json={"sleep_hours": 8, "soreness": 1, "mood": 5}
    )
    first = (await _home(client, athlete))["briefing"]
    second = (await _home(client, athlete))["briefing"]
    assert first["text"] == second["text"]
    assert "of 4 planned" in first["text"] and "of 40.0 km" in first["text"]
    assert "recovered" in first["text"]


async def test_home_of_one_athlete_ignores_another(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    from fixtures.core_api import register_and_login

    other = await register_and_login(client)
    await client.post(
        "/v1/checkins", headers=other.headers, json={"sleep_hours": 8, "soreness": 1, "mood": 5}
    )
    body = await _home(client, athlete)
    assert body["summary"]["last_checkin"] is None
