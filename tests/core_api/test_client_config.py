"""GET /v1/client-config: the browser client's stream idle timeout and message limit, from settings."""

from __future__ import annotations

import httpx

from fixtures.coach import StartCoach
from fixtures.core_api import Athlete, StartCoreApi


async def test_the_default_idle_timeout_is_135_seconds(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/client-config")
    assert response.status_code == 200
    assert response.json() == {"coach_idle_timeout_ms": 135_000, "message_max_chars": 4000}
    assert response.headers["cache-control"] == "no-store"


async def test_the_setting_shortens_it(start_core_api: StartCoreApi) -> None:
    async with (
        start_core_api(CLIENT_STREAM_IDLE_TIMEOUT_SECONDS=2.5) as api,
        httpx.AsyncClient(base_url=api.base_url) as http,
    ):
        response = await http.get("/v1/client-config")
    assert response.json()["coach_idle_timeout_ms"] == 2500


async def test_the_message_limit_is_the_coachs_setting(
    start_core_api: StartCoreApi, start_coach: StartCoach, runner: Athlete
) -> None:
    """One variable, COACH_MESSAGE_MAX_CHARS: what core-api tells the client is
    what the coach accepts."""
    async with (
        start_core_api(COACH_MESSAGE_MAX_CHARS=10) as api,
        httpx.AsyncClient(base_url=api.base_url) as http,
    ):
        limit = (await http.get("/v1/client-config")).json()["message_max_chars"]
    assert limit == 10
    async with (
        start_coach(COACH_MESSAGE_MAX_CHARS=10) as coach,
        httpx.AsyncClient(base_url=coach.base_url) as http,
    ):
        refused = await http.post(
            "/v1/coach/chat", json={"message": "x" * (limit + 1)}, headers=runner.headers
        )
    assert refused.status_code == 422
    assert f"at most {limit} characters" in refused.json()["error"]["message"]


async def test_only_get_is_allowed(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/client-config", json={})
    assert response.status_code == 405
    assert "error" in response.json()
