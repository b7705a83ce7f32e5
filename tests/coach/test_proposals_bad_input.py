"""Bad input to the proposals API: a clear 4xx in the error shape, and nothing decided."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from fixtures.core_api import Athlete
from fixtures.errors import assert_error

QUERIES: list[tuple[str, str]] = [
    ("unknown status", "status=maybe"),
    ("limit zero", "limit=0"),
    ("limit too big", "limit=101"),
    ("limit not a number", "limit=ten"),
    ("unknown parameter", "sort=asc"),
]


@pytest.mark.parametrize("query", [q[1] for q in QUERIES], ids=[q[0] for q in QUERIES])
async def test_bad_list_queries_are_422(
    coach_client: httpx.AsyncClient, runner: Athlete, query: str
) -> None:
    answer = await coach_client.get(f"/v1/coach/proposals?{query}", headers=runner.headers)
    assert_error(answer, 422, "validation_error")


@pytest.mark.parametrize("action", ["apply", "dismiss"])
async def test_malformed_ids_are_422_and_unknown_ones_404(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool, action: str
) -> None:
    malformed = await coach_client.post(
        f"/v1/coach/proposals/42;DROP/{action}", headers=runner.headers
    )
    assert malformed.status_code == 422
    assert malformed.json()["error"]["message"] == "proposal id: must be a UUID"
    unknown = await coach_client.post(
        f"/v1/coach/proposals/{uuid.uuid4()}/{action}", headers=runner.headers
    )
    assert unknown.status_code == 404
    assert await pg_pool.fetchval("SELECT count(*) FROM coach_proposals") == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/coach/proposals"),
        ("POST", f"/v1/coach/proposals/{uuid.uuid4()}/apply"),
        ("POST", f"/v1/coach/proposals/{uuid.uuid4()}/dismiss"),
    ],
)
async def test_without_a_token_401(
    coach_client: httpx.AsyncClient, clean_state: None, method: str, path: str
) -> None:
    answer = await coach_client.request(method, path)
    assert_error(answer, 401, "unauthorized")


async def test_wrong_method_is_405(coach_client: httpx.AsyncClient, runner: Athlete) -> None:
    answer = await coach_client.get(
        f"/v1/coach/proposals/{uuid.uuid4()}/apply", headers=runner.headers
    )
    assert answer.status_code == 405
