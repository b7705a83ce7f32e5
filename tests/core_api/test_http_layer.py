"""core-api's HTTP layer reached directly (not through Caddy): request ids (one, of the safe
shape), CORS and a refused preflight in the error shape, the error shape for unknown routes,
no Host-built redirect, the separate metrics port, and a client that leaves mid-upload
counted as 499, not as a server error."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import httpx
from prometheus_client import REGISTRY

from fixtures.core_api import Athlete, CoreApi
from fixtures.waiting import poll


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


SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


async def test_only_one_request_id_of_the_safe_shape_is_kept(client: httpx.AsyncClient) -> None:
    kept = await client.get("/health", headers={"X-Request-ID": "trace-1.2_3"})
    assert kept.headers["x-request-id"] == "trace-1.2_3"
    for headers in (
        [("X-Request-ID", "abc"), ("X-Request-ID", 'x","code":"pwned')],
        [("X-Request-ID", "abc"), ("X-Request-ID", "abc")],
        [("X-Request-ID", "a" * 65)],
        [("X-Request-ID", "has:colon")],
        [("X-Request-ID", "")],
    ):
        response = await client.get("/health", headers=headers)
        (request_id,) = response.headers.get_list("x-request-id")
        assert SAFE_REQUEST_ID.fullmatch(request_id)
        assert request_id not in {value for _, value in headers}, headers


async def test_a_trailing_slash_never_redirects_to_the_host_header(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/v1/me/", "/v1/home/", "/health/"):
        response = await client.get(path, headers={"Host": "evil.example"})
        location = response.headers.get("location")
        assert location is None or not urlsplit(location).netloc, location
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


async def test_a_refused_cors_preflight_uses_the_error_shape(client: httpx.AsyncClient) -> None:
    refused = await client.options(
        "/v1/checkins",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    error = refused.json()["error"]
    assert error["code"] == "cors_rejected" and "origin" in error["message"]
    assert "access-control-allow-origin" not in refused.headers


def _count(route: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "http_requests_total", {"method": "POST", "route": route, "status": status}
    )
    return value or 0.0


async def _abort_mid_body(core_api: CoreApi, path: str, token: str) -> None:
    address = urlsplit(core_api.base_url)
    _reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
            '{"sleep_hours": '
        ).encode()
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_a_client_gone_mid_upload_is_counted_as_499_not_500(
    core_api: CoreApi, athlete: Athlete
) -> None:
    route = "/v1/checkins"
    before_499, before_500 = _count(route, "499"), _count(route, "500")
    for _ in range(3):
        await _abort_mid_body(core_api, route, athlete.access_token)

    async def counted() -> bool:
        return _count(route, "499") >= before_499 + 3

    await poll(counted, timeout_s=10, what="three 499s counted")
    assert _count(route, "500") == before_500
