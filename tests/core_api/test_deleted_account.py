"""A deleted account's access token opens nothing, for reads as for writes.

An access token outlives its account by up to its TTL (it is verified without
asking the database). Writes already fail on the foreign key; reads must not
answer 200 with an empty page, as if the account were new.
"""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from fixtures.core_api import Athlete, register_and_login

READS = [
    "/v1/me",
    "/v1/home",
    "/v1/checkins",
    "/v1/activities",
    "/v1/plan",
    "/v1/goal",
]
ADMIN_READS = ["/v1/admin/jobs/health", "/v1/admin/jobs/stuck"]


async def delete_account(pool: asyncpg.Pool, athlete: Athlete) -> None:
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM users WHERE id = $1", uuid.UUID(athlete.id))


def assert_account_gone(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.json()["error"]["message"]
    assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize("path", READS)
async def test_a_deleted_athlete_reads_nothing(
    client: httpx.AsyncClient, pg_pool: asyncpg.Pool, path: str
) -> None:
    athlete = await register_and_login(client)
    saved = await client.post(
        "/v1/checkins",
        json={"sleep_hours": 7.5, "soreness": 2, "mood": 4},
        headers=athlete.headers,
    )
    assert saved.status_code == 201
    assert (await client.get(path, headers=athlete.headers)).status_code in (200, 404)
    await delete_account(pg_pool, athlete)
    assert_account_gone(await client.get(path, headers=athlete.headers))


@pytest.mark.parametrize("path", ADMIN_READS)
async def test_a_deleted_admin_reads_nothing(
    client: httpx.AsyncClient, pg_pool: asyncpg.Pool, path: str
) -> None:
    admin = await register_and_login(client, email="boss@example.com")
    assert (await client.get(path, headers=admin.headers)).status_code == 200
    await delete_account(pg_pool, admin)
    assert_account_gone(await client.get(path, headers=admin.headers))


async def test_a_deleted_admin_cannot_retry_a_job(
    client: httpx.AsyncClient, pg_pool: asyncpg.Pool
) -> None:
    admin = await register_and_login(client, email="boss@example.com")
    await delete_account(pg_pool, admin)
    # Refused for the account before the job is even looked up (an unknown id
    # would otherwise be a 404: the route ran).
    response = await client.post(f"/v1/admin/jobs/{uuid.uuid4()}/retry", headers=admin.headers)
    assert_account_gone(response)


async def test_another_account_is_not_affected(
    client: httpx.AsyncClient, pg_pool: asyncpg.Pool
) -> None:
    gone, staying = await register_and_login(client), await register_and_login(client)
    await delete_account(pg_pool, gone)
    for path in READS:
        response = await client.get(path, headers=staying.headers)
        assert response.status_code in (200, 404), (path, response.text)
