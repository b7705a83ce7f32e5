"""PUT and DELETE /v1/activities/{id}: an athlete corrects or removes their own activity.

The body is validated exactly as a new activity's (every bad body of POST is
swept against PUT in test_bad_input.py); here: what changes, whose activity it
is, bad ids, and the briefing refresh that follows, as after a save.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from fixtures.core_api import Athlete, register_and_login
from fixtures.errors import assert_error

ACTIVITY = {
    "sport": "run",
    "started_at": "2026-03-01T06:30:00Z",
    "duration_s": 1800,
    "distance_m": 5000.0,
    "avg_hr": 150,
    "note": "easy",
}
EDITED = {"sport": "ride", "started_at": "2026-03-02T17:00:00+01:00", "duration_s": 3600}


async def _create(client: httpx.AsyncClient, who: Athlete) -> dict[str, Any]:
    response = await client.post("/v1/activities", json=ACTIVITY, headers=who.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _stored(pool: asyncpg.Pool, activity_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT * FROM activities WHERE id = $1", uuid.UUID(activity_id))
    return None if row is None else dict(row)


async def _refreshes_queued(pool: asyncpg.Pool, who: Athlete) -> list[str]:
    rows = await pool.fetch(
        "SELECT input->>'reason' AS reason FROM jobs WHERE kind = 'refresh_briefing'"
        " AND subject = $1 AND status IN ('queued', 'processing', 'timed_out')",
        who.id,
    )
    return [row["reason"] for row in rows]


async def test_put_replaces_every_field(
    client: httpx.AsyncClient, athlete: Athlete, pg_pool: asyncpg.Pool
) -> None:
    created = await _create(client, athlete)
    response = await client.put(
        f"/v1/activities/{created['id']}", json=EDITED, headers=athlete.headers
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["id"] == created["id"] and edited["created_at"] == created["created_at"]
    assert edited["sport"] == "ride" and edited["duration_s"] == 3600
    # Stored in UTC, as a new one is; the fields left out are gone, as with POST.
    assert edited["started_at"] == "2026-03-02T16:00:00+00:00"
    assert (edited["distance_m"], edited["avg_hr"], edited["note"]) == (None, None, None)
    listed = (await client.get("/v1/activities", headers=athlete.headers)).json()["items"]
    assert listed == [edited]
    assert (await pg_pool.fetchval("SELECT count(*) FROM activities")) == 1


async def test_delete_removes_it_once(client: httpx.AsyncClient, athlete: Athlete) -> None:
    kept = await _create(client, athlete)
    gone = await _create(client, athlete)
    response = await client.delete(f"/v1/activities/{gone['id']}", headers=athlete.headers)
    assert response.status_code == 204, response.text
    assert response.content == b""
    listed = (await client.get("/v1/activities", headers=athlete.headers)).json()["items"]
    assert [item["id"] for item in listed] == [kept["id"]]
    again = await client.delete(f"/v1/activities/{gone['id']}", headers=athlete.headers)
    assert_error(again, 404, "not_found")
    edit_gone = await client.put(
        f"/v1/activities/{gone['id']}", json=EDITED, headers=athlete.headers
    )
    assert_error(edit_gone, 404, "not_found")


async def test_put_and_delete_ask_for_a_briefing_refresh_as_a_save_does(
    client: httpx.AsyncClient, athlete: Athlete, pg_pool: asyncpg.Pool
) -> None:
    created = await _create(client, athlete)
    assert await _refreshes_queued(pg_pool, athlete) == ["activity"]
    for method, body in [("PUT", EDITED), ("DELETE", None)]:
        await pg_pool.execute("DELETE FROM jobs WHERE subject = $1", athlete.id)
        response = await client.request(
            method, f"/v1/activities/{created['id']}", json=body, headers=athlete.headers
        )
        assert response.is_success, response.text
        assert await _refreshes_queued(pg_pool, athlete) == ["activity"], method


async def test_someone_else_s_activity_is_not_found_and_stays_as_it_was(
    client: httpx.AsyncClient, athlete: Athlete, pg_pool: asyncpg.Pool
) -> None:
    theirs = await _create(client, athlete)
    before = await _stored(pg_pool, theirs["id"])
    intruder = await register_and_login(client)
    await pg_pool.execute("DELETE FROM jobs")
    path = f"/v1/activities/{theirs['id']}"
    assert_error(await client.put(path, json=EDITED, headers=intruder.headers), 404, "not_found")
    assert_error(await client.delete(path, headers=intruder.headers), 404, "not_found")
    assert await _stored(pg_pool, theirs["id"]) == before
    # A refused request asks for nothing.
    assert await pg_pool.fetchval("SELECT count(*) FROM jobs") == 0


@pytest.mark.parametrize(
    "activity_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "%00", "' OR 1=1"]
)
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_a_bad_id_is_422(
    client: httpx.AsyncClient, athlete: Athlete, method: str, activity_id: str
) -> None:
    body = EDITED if method == "PUT" else None
    response = await client.request(
        method, f"/v1/activities/{activity_id}", json=body, headers=athlete.headers
    )
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_an_unknown_id_is_404(
    client: httpx.AsyncClient, athlete: Athlete, method: str
) -> None:
    body = EDITED if method == "PUT" else None
    response = await client.request(
        method, f"/v1/activities/{uuid.uuid4()}", json=body, headers=athlete.headers
    )
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "change",
    [
        {"duration_s": 0},
        {"sport": "walk"},
        {"started_at": "2026-03-01T06:30:00"},
        {"distance_m": -1},
        {"avg_hr": 251},
        {"note": "n" * 2001},
        {"extra": 1},
    ],
    ids=lambda change: next(iter(change)),
)
async def test_an_invalid_edit_is_422_and_changes_nothing(
    client: httpx.AsyncClient, athlete: Athlete, pg_pool: asyncpg.Pool, change: dict[str, Any]
) -> None:
    created = await _create(client, athlete)
    before = await _stored(pg_pool, created["id"])
    response = await client.put(
        f"/v1/activities/{created['id']}", json={**ACTIVITY, **change}, headers=athlete.headers
    )
    assert_error(response, 422, "validation_error")
    assert response.json()["error"]["details"][0]["field"] == next(iter(change))
    assert await _stored(pg_pool, created["id"]) == before


async def test_without_a_token_it_is_401(client: httpx.AsyncClient, athlete: Athlete) -> None:
    created = await _create(client, athlete)
    path = f"/v1/activities/{created['id']}"
    assert_error(await client.put(path, json=EDITED), 401, "unauthorized")
    assert_error(await client.delete(path), 401, "unauthorized")
