"""GET /v1/client-config: the browser client's stream idle timeout, from a setting."""

from __future__ import annotations

import httpx

from fixtures.core_api import StartCoreApi


async def test_the_default_idle_timeout_is_135_seconds(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/client-config")
    assert response.status_code == 200
    assert response.json() == {"coach_idle_timeout_ms": 135_000}
    assert response.headers["cache-control"] == "no-store"


async def test_the_setting_shortens_it(start_core_api: StartCoreApi) -> None:
    async with (
        start_core_api(CLIENT_STREAM_IDLE_TIMEOUT_SECONDS=2.5) as api,
        httpx.AsyncClient(base_url=api.base_url) as http,
    ):
        response = await http.get("/v1/client-config")
    assert response.json() == {"coach_idle_timeout_ms": 2500}


async def test_only_get_is_allowed(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/client-config", json={})
    assert response.status_code == 405
    assert "error" in response.json()
