"""Request ids, CORS, error shape for unknown routes, and the separate metrics port."""

from __future__ import annotations

import httpx

from fixtures.core_api import CoreApi


async def test_a_request_id_is_made_when_missing(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert len(response.headers["X-Request-ID"]) >= 16


async def test_the_proxys_request_id_is_passed_through(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc-123.proxy"})
    assert response.headers["X-Request-ID"] == "abc-123.proxy"


async def test_a_hostile_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": 'x" injected\\n'})
    assert response.headers["X-Request-ID"] != 'x" injected\\n'


async def test_unknown_route_and_wrong_method_use_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/v1/nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong_method = await client.delete("/v1/home")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_cors_allows_only_the_configured_origins(client: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = await client.options(
        "/v1/checkins", headers={"Origin": "https://app.pacer.test", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.pacer.test"
    refused = await client.options(
        "/v1/checkins", headers={"Origin": "https://evil.example", **preflight}
    )
    assert refused.status_code == 400
    assert "Access-Control-Allow-Origin" not in refused.headers


async def test_metrics_are_on_their_own_port_by_route_template(
    client: httpx.AsyncClient, core_api: CoreApi
) -> None:
    await client.get("/health")
    await client.get("/v1/me")
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(core_api.metrics_url)).text
    assert 'http_requests_total{method="GET",route="/health",status="200"}' in metrics
    assert 'http_requests_total{method="GET",route="/v1/me",status="401"}' in metrics
    assert "http_request_duration_seconds_bucket" in metrics
    assert "event_loop_lag_seconds" in metrics
    # Not on the API port.
    assert (await client.get("/metrics")).status_code == 404
