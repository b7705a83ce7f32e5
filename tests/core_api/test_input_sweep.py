"""Every core-api route, swept with the input classes that once made a route answer 500.

Out-of-range dates and numbers in every field and query parameter, text with no
visible character in every text field, and a valid token whose account was
deleted on every authenticated route: below 500 always, the JSON error shape on
a 4xx, 401 for the deleted account. The defects that started it (issue 9) also
have exact assertions below.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette import routing

from fixtures.core_api import Athlete, CoreApi, core_api_settings, register_and_login
from fixtures.hostile_inputs import DATES, QUERY_NUMBERS, assert_not_500, values_for
from pacer_core_api.app import create_app


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    authed: bool
    admin: bool = False
    valid: dict[str, Any] | None = None
    # body field -> "date" | "number" | "text"
    fields: dict[str, str] = field(default_factory=dict)
    # query parameter -> "date" | "number"
    query: dict[str, str] = field(default_factory=dict)


JOB_ID = "00000000-0000-0000-0000-000000000000"
ROUTES = [
    Route("GET", "/health", authed=False),
    Route("GET", "/health/ready", authed=False),
    Route(
        "POST",
        "/v1/auth/register",
        authed=False,
        valid={"email": "sweep@example.com", "password": "long enough pw", "name": "Sweep"},
        fields={"name": "text", "password": "text"},
    ),
    Route(
        "POST",
        "/v1/auth/login",
        authed=False,
        valid={"email": "sweep@example.com", "password": "long enough pw"},
        fields={"password": "text"},
    ),
    Route(
        "POST",
        "/v1/auth/refresh",
        authed=False,
        valid={"refresh_token": "x"},
        fields={"refresh_token": "text"},
    ),
    Route(
        "POST",
        "/v1/auth/logout",
        authed=False,
        valid={"refresh_token": "x"},
        fields={"refresh_token": "text"},
    ),
    Route("GET", "/v1/me", authed=True),
    Route(
        "POST",
        "/v1/checkins",
        authed=True,
        valid={"sleep_hours": 7.5, "soreness": 2, "mood": 4},
        fields={
            "sleep_hours": "number",
            "soreness": "number",
            "mood": "number",
            "date": "date",
            "note": "text",
        },
    ),
    Route("GET", "/v1/checkins", authed=True, query={"before": "date", "limit": "number"}),
    Route(
        "POST",
        "/v1/activities",
        authed=True,
        valid={"sport": "run", "started_at": "2026-03-01T06:30:00Z", "duration_s": 1800},
        fields={
            "started_at": "date",
            "duration_s": "number",
            "distance_m": "number",
            "avg_hr": "number",
            "note": "text",
        },
    ),
    Route("GET", "/v1/activities", authed=True, query={"before": "date", "limit": "number"}),
    Route(
        "PUT",
        "/v1/plan",
        authed=True,
        valid={
            "name": "Block",
            "start_date": "2026-03-02",
            "end_date": "2026-05-24",
            "sessions_per_week": 5,
        },
        fields={
            "name": "text",
            "start_date": "date",
            "end_date": "date",
            "sessions_per_week": "number",
            "weekly_distance_m": "number",
        },
    ),
    Route("GET", "/v1/plan", authed=True),
    Route(
        "PUT",
        "/v1/goal",
        authed=True,
        valid={"race_name": "Berlin", "race_date": "2026-09-27", "distance_m": 42195.0},
        fields={
            "race_name": "text",
            "race_date": "date",
            "distance_m": "number",
            "target_time_s": "number",
        },
    ),
    Route("GET", "/v1/goal", authed=True),
    Route("GET", "/v1/home", authed=True),
    Route("GET", "/v1/admin/jobs/health", authed=True, admin=True),
    Route("GET", "/v1/admin/jobs/stuck", authed=True, admin=True, query={"limit": "number"}),
    Route("POST", f"/v1/admin/jobs/{JOB_ID}/retry", authed=True, admin=True),
]


def test_the_sweep_lists_every_route(tmp_path: Path, jwt_key_files: tuple[Path, Path]) -> None:
    settings = core_api_settings("postgresql://unused", "redis://unused", jwt_key_files)
    served = {
        (method, route.path)
        for route in create_app(settings).routes
        if isinstance(route, routing.Route)
        for method in (route.methods or set()) - {"HEAD"}
    }
    swept = {(route.method, route.path.replace(JOB_ID, "{job_id}")) for route in ROUTES}
    assert served == swept


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


def _headers(route: Route, people: dict[str, Athlete]) -> dict[str, str]:
    if not route.authed:
        return {}
    return people["admin" if route.admin else "athlete"].headers


@pytest.mark.parametrize("route", [r for r in ROUTES if r.fields], ids=lambda r: r.path)
async def test_hostile_body_fields_never_500(
    http: httpx.AsyncClient, people: dict[str, Athlete], route: Route
) -> None:
    assert route.valid is not None
    for name, kind in route.fields.items():
        for value in values_for(kind):
            response = await http.request(
                route.method,
                route.path,
                json={**route.valid, name: value},
                headers=_headers(route, people),
            )
            assert_not_500(response, f"{route.method} {route.path} {name}={value!r}")


@pytest.mark.parametrize("route", [r for r in ROUTES if r.query], ids=lambda r: r.path)
async def test_hostile_query_parameters_never_500(
    http: httpx.AsyncClient, people: dict[str, Athlete], route: Route
) -> None:
    for name, kind in route.query.items():
        for value in DATES if kind == "date" else QUERY_NUMBERS:
            response = await http.request(
                route.method, route.path, params={name: value}, headers=_headers(route, people)
            )
            assert_not_500(response, f"{route.method} {route.path}?{name}={value}")


async def test_a_deleted_account_gets_401_on_every_authenticated_route(
    http: httpx.AsyncClient, pg_pool: asyncpg.Pool
) -> None:
    ghost = await register_and_login(http)
    await pg_pool.execute("DELETE FROM users WHERE id = $1", uuid.UUID(ghost.id))
    for route in (r for r in ROUTES if r.authed and not r.admin):
        response = await http.request(
            route.method, route.path, json=route.valid, headers=ghost.headers
        )
        assert response.status_code == 401, f"{route.method} {route.path}: {response.text}"
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
