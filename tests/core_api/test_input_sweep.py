"""Every core-api route, swept with the input classes that once made a route answer 500.

Out-of-range dates and numbers in every field and query parameter, text with no
visible character in every text field, and a valid token whose account was
deleted on every authenticated route: below 500 always, the JSON error shape on
a 4xx, 401 for the deleted account. The defects that started it (issue 9) also
have exact assertions below.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from fixtures.core_api import Athlete, CoreApi, core_api_settings, register_and_login
from fixtures.core_api_endpoints import ENDPOINTS, ROW_ENDPOINTS, UNKNOWN_ID, Endpoint
from fixtures.hostile_inputs import DATES, QUERY_NUMBERS, assert_not_500, served_routes, values_for
from pacer_core_api.app import create_app

# Routes without a JSON body, and the kind of each query parameter. The body
# routes, their valid bodies and field kinds are core_api_endpoints.ENDPOINTS.
JOB_ID = "00000000-0000-0000-0000-000000000000"
TOPIC_ID = "00000000-0000-0000-0000-000000000001"
ADMIN_ROUTES = {
    ("GET", "/v1/admin/jobs/health"),
    ("GET", "/v1/admin/jobs/stuck"),
    ("POST", f"/v1/admin/jobs/{JOB_ID}/retry"),
    # Their bad inputs, one by one: tests/core_api/test_admin_topics.py.
    ("GET", "/v1/admin/topics"),
    ("GET", f"/v1/admin/topics/{TOPIC_ID}"),
    ("PUT", f"/v1/admin/topics/{TOPIC_ID}"),
}
UNAUTHENTICATED = {("GET", "/health"), ("GET", "/health/ready"), ("GET", "/v1/client-config")}
READS = {
    ("GET", path) for path in ("/v1/me", "/v1/plan", "/v1/goal", "/v1/home", "/v1/stats/weekly")
}
# Routes that name a row, without a body: the sweep's id is unknown (a 404 past auth).
ROW_DELETES = {("DELETE", f"/v1/activities/{UNKNOWN_ID}")}
LISTS = {("GET", "/v1/checkins"), ("GET", "/v1/activities")}
QUERIES: dict[str, str] = {"before": "date", "limit": "number"}


def test_the_sweep_lists_every_route(jwt_key_files: tuple[Path, Path]) -> None:
    settings = core_api_settings("postgresql://unused", "redis://unused", jwt_key_files)
    swept = {(e.method, e.path) for e in ENDPOINTS} | UNAUTHENTICATED | READS | LISTS
    swept |= {
        (method, path.replace(UNKNOWN_ID, "{activity_id}"))
        for method, path in {(e.method, e.path) for e in ROW_ENDPOINTS} | ROW_DELETES
    }
    swept |= {
        (method, path.replace(JOB_ID, "{job_id}").replace(TOPIC_ID, "{topic_id}"))
        for method, path in ADMIN_ROUTES
    }
    assert served_routes(create_app(settings)) == swept


@pytest.fixture(scope="module")
async def http(core_api: CoreApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=core_api.base_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
async def people(http: httpx.AsyncClient) -> dict[str, Athlete]:
    return {
        "athlete": await register_and_login(http),
        "admin": await register_and_login(http, email="boss@example.com"),
    }


@pytest.mark.parametrize("endpoint", [*ENDPOINTS, *ROW_ENDPOINTS], ids=lambda e: e.name)
async def test_hostile_body_fields_never_500(
    http: httpx.AsyncClient, people: dict[str, Athlete], endpoint: Endpoint
) -> None:
    headers = people["athlete"].headers if endpoint.authed else {}
    for name in endpoint.kinds:
        for value in values_for(endpoint.hostile_kind(name)):
            response = await http.request(
                endpoint.method,
                endpoint.path,
                json={**endpoint.valid, name: value},
                headers=headers,
            )
            assert_not_500(response, f"{endpoint.method} {endpoint.path} {name}={value!r}")


async def test_hostile_query_parameters_never_500(
    http: httpx.AsyncClient, people: dict[str, Athlete]
) -> None:
    routes = [(path, people["athlete"]) for _, path in LISTS]
    routes.append(("/v1/admin/jobs/stuck", people["admin"]))
    for path, who in routes:
        for name, kind in QUERIES.items():
            for value in DATES if kind == "date" else QUERY_NUMBERS:
                response = await http.get(path, params={name: value}, headers=who.headers)
                assert_not_500(response, f"GET {path}?{name}={value}")
    for value in QUERY_NUMBERS:
        response = await http.get(
            "/v1/stats/weekly", params={"weeks": value}, headers=people["athlete"].headers
        )
        assert_not_500(response, f"GET /v1/stats/weekly?weeks={value}")


async def test_admin_routes_never_500(http: httpx.AsyncClient, people: dict[str, Athlete]) -> None:
    for method, path in ADMIN_ROUTES | UNAUTHENTICATED:
        assert_not_500(await http.request(method, path, headers=people["admin"].headers), path)


async def test_a_deleted_account_gets_401_on_every_authenticated_route(
    http: httpx.AsyncClient, pg_pool: asyncpg.Pool
) -> None:
    ghost = await register_and_login(http)
    await pg_pool.execute("DELETE FROM users WHERE id = $1", uuid.UUID(ghost.id))
    authed: list[tuple[str, str, Mapping[str, Any] | None]]
    authed = [(e.method, e.path, e.valid) for e in [*ENDPOINTS, *ROW_ENDPOINTS] if e.authed]
    authed += [(method, path, None) for method, path in READS | LISTS | ROW_DELETES]
    for method, path, body in authed:
        response = await http.request(method, path, json=body, headers=ghost.headers)
        assert response.status_code == 401, f"{method} {path}: {response.text}"
        assert response.json()["error"]["code"] in {"unauthorized", "invalid_token"}
        assert response.headers["www-authenticate"] == "Bearer"


# --- the reproductions from the hardening issue ------------------------------------------------


@pytest.mark.parametrize("distance_m", [0.04, 5e-324, 0.049])
async def test_a_goal_distance_that_rounds_to_zero_is_422(
    http: httpx.AsyncClient, people: dict[str, Athlete], distance_m: float
) -> None:
    response = await http.put(
        "/v1/goal",
        json={"race_name": "Berlin", "race_date": "2026-09-27", "distance_m": distance_m},
        headers=people["athlete"].headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "distance_m"


@pytest.mark.parametrize("name", ["\u200b", "\u200b\ufeff", " \u3000"])
async def test_a_name_with_no_visible_character_is_422(
    http: httpx.AsyncClient, people: dict[str, Athlete], name: str
) -> None:
    response = await http.put(
        "/v1/goal",
        json={"race_name": name, "race_date": "2026-09-27", "distance_m": 42195.0},
        headers=people["athlete"].headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "race_name"


async def test_a_422_lists_at_most_twenty_details(http: httpx.AsyncClient) -> None:
    body = {f"unknown_{index}": index for index in range(2_500)}
    response = await http.post("/v1/auth/login", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert len(error["details"]) == 20
    assert error["details_omitted"] >= 2_480
    assert len(response.content) < 10_000
