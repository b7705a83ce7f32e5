"""Check-ins, activities, plan and goal: the happy paths, and whose data is whose."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import httpx
import pytest

from fixtures.core_api import Athlete, register_and_login
from fixtures.errors import assert_error

CHECKIN = {"sleep_hours": 7.5, "soreness": 2, "mood": 4}
ACTIVITY = {"sport": "run", "started_at": "2026-03-01T06:30:00Z", "duration_s": 1800}
PLAN = {
    "name": "Spring marathon block",
    "start_date": "2026-03-02",
    "end_date": "2026-05-24",
    "sessions_per_week": 5,
    "weekly_distance_m": 62000.5,
}
GOAL = {
    "race_name": "Berlin Marathon",
    "race_date": "2026-09-27",
    "distance_m": 42195.0,
    "target_time_s": 3 * 3600 + 15 * 60,
}

UNICODE_TEXT = "Zoë — 東京マラソン 🏃"
SQL_LOOKING = ["'; DROP TABLE users; --", "Robert'); DELETE FROM checkins;--"]
TABLES = ("users", "checkins", "activities", "plans", "goals", "refresh_tokens")


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


async def row_counts(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}


async def post_checkin(client: httpx.AsyncClient, who: Athlete, **fields: Any) -> httpx.Response:
    return await client.post("/v1/checkins", json={**CHECKIN, **fields}, headers=who.headers)


async def post_activity(client: httpx.AsyncClient, who: Athlete, **fields: Any) -> httpx.Response:
    return await client.post("/v1/activities", json={**ACTIVITY, **fields}, headers=who.headers)


# --- check-ins -----------------------------------------------------------------------------


async def test_checkin_is_created_then_replaced_for_the_same_date(
    client: httpx.AsyncClient, athlete: Athlete, pg_pool: asyncpg.Pool
) -> None:
    first = await post_checkin(client, athlete, date="2026-03-01", note="heavy legs")
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["date"] == "2026-03-01"
    assert (created["sleep_hours"], created["soreness"], created["mood"]) == (7.5, 2, 4)
    assert created["note"] == "heavy legs"

    again = await post_checkin(
        client, athlete, date="2026-03-01", sleep_hours=6, soreness=4, mood=2
    )
    assert again.status_code == 200, again.text
    replaced = again.json()
    assert replaced["id"] == created["id"]
    assert (replaced["sleep_hours"], replaced["soreness"], replaced["mood"]) == (6.0, 4, 2)
    # Replaces all values: a note left out of the second post is gone.
    assert replaced["note"] is None

    listed = (await client.get("/v1/checkins", headers=athlete.headers)).json()["items"]
    assert [(item["date"], item["sleep_hours"], item["mood"]) for item in listed] == [
        ("2026-03-01", 6.0, 2)
    ]
    assert (await row_counts(pg_pool))["checkins"] == 1


async def test_checkin_date_defaults_to_today_utc(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    before = dt.datetime.now(dt.UTC).date()
    response = await post_checkin(client, athlete)
    after = dt.datetime.now(dt.UTC).date()
    assert response.status_code == 201, response.text
    assert response.json()["date"] in {before.isoformat(), after.isoformat()}

    # Posting again without a date replaces today's check-in rather than adding one.
    again = await post_checkin(client, athlete, mood=5)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == response.json()["id"]


async def test_checkins_list_newest_first_with_limit_and_before_paging(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    days = ["2026-02-03", "2026-02-01", "2026-02-05", "2026-02-02", "2026-02-04"]
    for mood, day in enumerate(days, start=1):
        assert (await post_checkin(client, athlete, date=day, mood=mood)).status_code == 201
    newest_first = sorted(days, reverse=True)

    listed = await client.get("/v1/checkins", headers=athlete.headers)
    assert listed.status_code == 200, listed.text
    assert [item["date"] for item in listed.json()["items"]] == newest_first

    limited = await client.get("/v1/checkins", params={"limit": 2}, headers=athlete.headers)
    assert [item["date"] for item in limited.json()["items"]] == newest_first[:2]

    older = await client.get(
        "/v1/checkins", params={"before": "2026-02-03"}, headers=athlete.headers
    )
    assert [item["date"] for item in older.json()["items"]] == ["2026-02-02", "2026-02-01"]

    # Page through with limit + before=<last date seen>: every day once, in order.
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(len(days)):
        page = (await client.get("/v1/checkins", params=params, headers=athlete.headers)).json()
        if not page["items"]:
            break
        seen += [item["date"] for item in page["items"]]
        params["before"] = page["items"][-1]["date"]
    assert seen == newest_first


# --- activities ----------------------------------------------------------------------------


async def test_activity_is_created_with_every_field_echoed(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    sent: dict[str, Any] = {
        "sport": "ride",
        "started_at": "2026-03-01T08:30:00+02:00",
        "duration_s": 5400,
        "distance_m": 45210.5,
        "avg_hr": 142,
        "note": "windy",
    }
    response = await client.post("/v1/activities", json=sent, headers=athlete.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body["id"], str) and body["id"]
    assert "user_id" not in body
    assert when(body["started_at"]) == when(sent["started_at"])
    assert {key: body[key] for key in ("sport", "duration_s", "distance_m", "avg_hr", "note")} == {
        key: sent[key] for key in ("sport", "duration_s", "distance_m", "avg_hr", "note")
    }

    listed = (await client.get("/v1/activities", headers=athlete.headers)).json()["items"]
    assert listed == [body]


async def test_activity_optional_fields_are_null(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    response = await post_activity(client, athlete, sport="strength")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sport"] == "strength"
    assert body["duration_s"] == 1800
    assert body["distance_m"] is None
    assert body["avg_hr"] is None
    assert body["note"] is None


@pytest.mark.parametrize("sport", ["run", "ride", "swim", "strength", "other"])
async def test_every_sport_is_accepted(
    client: httpx.AsyncClient, athlete: Athlete, sport: str
) -> None:
    response = await post_activity(client, athlete, sport=sport)
    assert response.status_code == 201, response.text
    assert response.json()["sport"] == sport


async def test_activities_list_newest_first_with_limit_and_before(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    starts = [
        "2026-03-02T07:00:00Z",
        "2026-03-04T07:00:00+01:00",  # 06:00 UTC
        "2026-03-01T07:00:00Z",
        "2026-03-03T18:00:00-05:00",  # 2026-03-03T23:00 UTC
    ]
    for start in starts:
        assert (await post_activity(client, athlete, started_at=start)).status_code == 201
    newest_first = sorted((when(start) for start in starts), reverse=True)

    listed = await client.get("/v1/activities", headers=athlete.headers)
    assert listed.status_code == 200, listed.text
    assert [when(item["started_at"]) for item in listed.json()["items"]] == newest_first

    limited = await client.get("/v1/activities", params={"limit": 1}, headers=athlete.headers)
    assert [when(item["started_at"]) for item in limited.json()["items"]] == newest_first[:1]

    # before is RFC 3339 with an offset; httpx percent-encodes the "+".
    for before in ("2026-03-03T23:00:00Z", "2026-03-04T00:00:00+01:00"):
        older = await client.get(
            "/v1/activities", params={"before": before}, headers=athlete.headers
        )
        assert older.status_code == 200, older.text
        assert [when(item["started_at"]) for item in older.json()["items"]] == [
            start for start in newest_first if start < when(before)
        ]

    paged = await client.get(
        "/v1/activities",
        params={"limit": 2, "before": newest_first[0].isoformat()},
        headers=athlete.headers,
    )
    assert [when(item["started_at"]) for item in paged.json()["items"]] == newest_first[1:3]


# --- plan and goal -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "first", "second"),
    [
        pytest.param(
            "/v1/plan",
            PLAN,
            {
                "name": "Base block",
                "start_date": "2026-06-01",
                "end_date": "2026-06-01",
                "sessions_per_week": 14,
            },
            id="plan",
        ),
        pytest.param(
            "/v1/goal",
            GOAL,
            {"race_name": "Parkrun", "race_date": "2026-04-04", "distance_m": 5000},
            id="goal",
        ),
    ],
)
async def test_put_sets_and_replaces_what_get_returns(
    client: httpx.AsyncClient,
    athlete: Athlete,
    pg_pool: asyncpg.Pool,
    path: str,
    first: dict[str, Any],
    second: dict[str, Any],
) -> None:
    missing = await client.get(path, headers=athlete.headers)
    assert_error(missing, 404, "not_found")

    put = await client.put(path, json=first, headers=athlete.headers)
    assert put.status_code == 200, put.text
    assert {key: put.json()[key] for key in first} == first
    got = await client.get(path, headers=athlete.headers)
    assert got.status_code == 200, got.text
    assert got.json() == put.json()

    replaced = await client.put(path, json=second, headers=athlete.headers)
    assert replaced.status_code == 200, replaced.text
    # Every field is replaced: an optional one left out comes back null.
    expected = {key: second.get(key) for key in first}
    assert {key: replaced.json()[key] for key in first} == expected
    assert (await client.get(path, headers=athlete.headers)).json() == replaced.json()

    counts = await row_counts(pg_pool)
    assert counts["plans" if path == "/v1/plan" else "goals"] == 1


# --- ownership -----------------------------------------------------------------------------


async def test_a_second_athlete_never_sees_the_first_ones_data(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    assert (await post_checkin(client, athlete, date="2026-03-01")).status_code == 201
    assert (await post_activity(client, athlete)).status_code == 201
    assert (await client.put("/v1/plan", json=PLAN, headers=athlete.headers)).status_code == 200
    assert (await client.put("/v1/goal", json=GOAL, headers=athlete.headers)).status_code == 200

    other = await register_and_login(client)
    assert other.id != athlete.id
    empty_pages = {
        "/v1/checkins": {"items": []},
        "/v1/activities": {"items": [], "next_before": None},
    }
    for path, empty in empty_pages.items():
        response = await client.get(path, headers=other.headers)
        assert response.status_code == 200, response.text
        assert response.json() == empty
    for path in ("/v1/plan", "/v1/goal"):
        assert_error(await client.get(path, headers=other.headers), 404, "not_found")

    # The same date is a new check-in for the other athlete, not a replacement of the first's.
    theirs = await post_checkin(client, other, date="2026-03-01", mood=1)
    assert theirs.status_code == 201, theirs.text
    other_plan = {**PLAN, "name": "Other plan"}
    assert (await client.put("/v1/plan", json=other_plan, headers=other.headers)).status_code == 200

    mine = (await client.get("/v1/checkins", headers=athlete.headers)).json()["items"]
    assert [(item["date"], item["mood"]) for item in mine] == [("2026-03-01", 4)]
    assert (await client.get("/v1/plan", headers=athlete.headers)).json()["name"] == PLAN["name"]
    assert len((await client.get("/v1/activities", headers=athlete.headers)).json()["items"]) == 1
    their_items = (await client.get("/v1/checkins", headers=other.headers)).json()["items"]
    assert [item["id"] for item in their_items] == [theirs.json()["id"]]


# --- text that tends to break things -------------------------------------------------------


async def write_text_everywhere(
    client: httpx.AsyncClient, who: Athlete, text: str
) -> dict[str, str]:
    """Store text in every free-text field; return what each GET gives back."""
    checkin = await post_checkin(client, who, note=text)
    activity = await post_activity(client, who, note=text)
    plan = await client.put("/v1/plan", json={**PLAN, "name": text}, headers=who.headers)
    goal = await client.put("/v1/goal", json={**GOAL, "race_name": text}, headers=who.headers)
    for response, status in ((checkin, 201), (activity, 201), (plan, 200), (goal, 200)):
        assert response.status_code == status, response.text
    me = await client.get("/v1/me", headers=who.headers)
    return {
        "user name": me.json()["name"],
        "check-in note": (await client.get("/v1/checkins", headers=who.headers)).json()["items"][0][
            "note"
        ],
        "activity note": (await client.get("/v1/activities", headers=who.headers)).json()["items"][
            0
        ]["note"],
        "plan name": (await client.get("/v1/plan", headers=who.headers)).json()["name"],
        "goal race name": (await client.get("/v1/goal", headers=who.headers)).json()["race_name"],
    }


async def test_non_ascii_text_round_trips_exactly(client: httpx.AsyncClient) -> None:
    who = await register_and_login(client, name=UNICODE_TEXT)
    stored = await write_text_everywhere(client, who, UNICODE_TEXT)
    assert stored == dict.fromkeys(stored, UNICODE_TEXT)


@pytest.mark.parametrize("text", SQL_LOOKING, ids=["drop-table", "delete-from"])
async def test_sql_looking_text_is_stored_literally_and_tables_survive(
    client: httpx.AsyncClient, pg_pool: asyncpg.Pool, text: str
) -> None:
    bystander = await register_and_login(client)
    assert (await post_checkin(client, bystander)).status_code == 201

    who = await register_and_login(client, name=text)
    stored = await write_text_everywhere(client, who, text)
    assert stored == dict.fromkeys(stored, text)

    assert await row_counts(pg_pool) == {
        "users": 2,
        "checkins": 2,
        "activities": 1,
        "plans": 1,
        "goals": 1,
        "refresh_tokens": 2,
    }
    async with pg_pool.acquire() as conn:
        assert await conn.fetchval("SELECT note FROM checkins WHERE note IS NOT NULL") == text
    # The bystander's data is untouched, and both can still sign in and read.
    assert len((await client.get("/v1/checkins", headers=bystander.headers)).json()["items"]) == 1


# --- the edges of every range are inside it -------------------------------------------------

TOMORROW = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
VALID: dict[str, dict[str, Any]] = {
    "/v1/checkins": CHECKIN,
    "/v1/activities": ACTIVITY,
    "/v1/plan": PLAN,
    "/v1/goal": GOAL,
}


@pytest.mark.parametrize(
    ("path", "method", "edge"),
    [
        pytest.param("/v1/checkins", "POST", {"sleep_hours": 0}, id="sleep_hours=0"),
        pytest.param("/v1/checkins", "POST", {"sleep_hours": 24}, id="sleep_hours=24"),
        pytest.param("/v1/checkins", "POST", {"soreness": 1, "mood": 5}, id="soreness=1-mood=5"),
        pytest.param("/v1/checkins", "POST", {"soreness": 5, "mood": 1}, id="soreness=5-mood=1"),
        pytest.param("/v1/checkins", "POST", {"note": "n" * 2000}, id="note-2000"),
        pytest.param("/v1/checkins", "POST", {"date": TOMORROW}, id="date=tomorrow-utc"),
        pytest.param("/v1/activities", "POST", {"duration_s": 1}, id="duration_s=1"),
        pytest.param("/v1/activities", "POST", {"distance_m": 0}, id="distance_m=0"),
        pytest.param("/v1/activities", "POST", {"avg_hr": 30}, id="avg_hr=30"),
        pytest.param("/v1/activities", "POST", {"avg_hr": 250}, id="avg_hr=250"),
        pytest.param("/v1/plan", "PUT", {"sessions_per_week": 1}, id="sessions=1"),
        pytest.param("/v1/plan", "PUT", {"sessions_per_week": 14}, id="sessions=14"),
        pytest.param("/v1/plan", "PUT", {"weekly_distance_m": 0}, id="weekly_distance_m=0"),
        pytest.param("/v1/goal", "PUT", {"distance_m": 0.1}, id="distance_m=0.1"),
        pytest.param("/v1/goal", "PUT", {"target_time_s": 1}, id="target_time_s=1"),
    ],
)
async def test_values_at_the_edge_of_each_range_are_accepted(
    client: httpx.AsyncClient, athlete: Athlete, path: str, method: str, edge: dict[str, Any]
) -> None:
    body = {**VALID[path], **edge}
    response = await client.request(method, path, json=body, headers=athlete.headers)
    assert response.status_code in (200, 201), response.text
    assert {key: response.json()[key] for key in edge} == edge


async def test_tabs_and_line_breaks_are_kept_in_a_note(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    note = "Intervals:\n\t6 by 800 m\r\n\tfelt good"
    response = await post_checkin(client, athlete, note=note)
    assert response.status_code == 201, response.text
    assert response.json()["note"] == note
    listed = (await client.get("/v1/checkins", headers=athlete.headers)).json()["items"]
    assert listed[0]["note"] == note
