"""The coach's HTTP edge reached directly: no Host-built redirect, and a refused
CORS preflight in the JSON error shape."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx


async def test_a_trailing_slash_never_redirects_to_the_host_header(
    coach_client: httpx.AsyncClient,
) -> None:
    for path in ("/v1/coach/conversations/", "/health/"):
        response = await coach_client.get(path, headers={"Host": "evil.example"})
        location = response.headers.get("location")
        assert location is None or not urlsplit(location).netloc, location
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


async def test_a_refused_cors_preflight_uses_the_error_shape(
    coach_client: httpx.AsyncClient,
) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    refused = await coach_client.options(
        "/v1/coach/chat", headers={"Origin": "https://evil.example", **preflight}
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    error = refused.json()["error"]
    assert error["code"] == "cors_rejected" and "origin" in error["message"]
    assert "access-control-allow-origin" not in refused.headers
