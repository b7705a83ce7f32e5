"""Issue 19, point 12, on the coach: pacer_common.auth refuses two Authorization
headers on every service (core-api's side: tests/core_api/test_names_and_headers.py)."""

from __future__ import annotations

import httpx

from fixtures.coach import Coach
from fixtures.core_api import Athlete


async def test_the_coach_refuses_two_authorization_headers(coach: Coach, runner: Athlete) -> None:
    token = runner.headers["Authorization"]
    async with httpx.AsyncClient(base_url=coach.base_url, timeout=10) as http:
        two = await http.get(
            "/v1/coach/conversations",
            headers=[("Authorization", token), ("Authorization", token)],
        )
        one = await http.get("/v1/coach/conversations", headers=runner.headers)
    assert two.status_code == 400
    assert two.json()["error"]["code"] == "duplicate_authorization"
    assert one.status_code == 200
