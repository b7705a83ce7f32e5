"""Cookie mode for refresh tokens (X-Pacer-Refresh-Cookie: 1): the browser client's way."""

from __future__ import annotations

import httpx
import pytest

from fixtures.core_api import PASSWORD, register_and_login
from fixtures.errors import assert_error

COOKIE_MODE = {"X-Pacer-Refresh-Cookie": "1"}


def _cookie_mode(cookie: str | None) -> dict[str, str]:
    """Cookie-mode headers, with a ``Cookie`` header when there is one."""
    return COOKIE_MODE if cookie is None else {**COOKIE_MODE, "Cookie": cookie}


def _refresh_cookie(response: httpx.Response) -> tuple[str, str]:
    """The pacer_refresh cookie's value and its whole Set-Cookie line."""
    (line,) = [
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith("pacer_refresh=")
    ]
    return line.split(";")[0].removeprefix("pacer_refresh="), line


async def _login_cookie_mode(client: httpx.AsyncClient) -> tuple[str, str]:
    athlete = await register_and_login(client)
    response = await client.post(
        "/v1/auth/login",
        json={"email": athlete.email, "password": PASSWORD},
        headers=COOKIE_MODE,
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()  # each test sends the cookie it means to, by hand
    token, _ = _refresh_cookie(response)
    return token, response.json()["access_token"]


async def test_login_in_cookie_mode_sets_a_strict_httponly_cookie_and_no_body_token(
    client: httpx.AsyncClient,
) -> None:
    athlete = await register_and_login(client)
    response = await client.post(
        "/v1/auth/login",
        json={"email": athlete.email, "password": PASSWORD},
        headers=COOKIE_MODE,
    )
    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body
    assert body["access_token"].count(".") == 2
    token, line = _refresh_cookie(response)
    assert token and token not in response.text
    attributes = {part.strip().split("=")[0].lower() for part in line.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes
    assert "Path=/v1/auth" in line
    assert "SameSite=strict" in line or "SameSite=Strict" in line
    # ENVIRONMENT=test serves plain HTTP: Secure is for production only.
    assert "secure" not in attributes


async def test_body_mode_is_unchanged_and_sets_no_cookie(client: httpx.AsyncClient) -> None:
    athlete = await register_and_login(client)
    response = await client.post(
        "/v1/auth/login", json={"email": athlete.email, "password": PASSWORD}
    )
    assert response.json()["refresh_token"]
    assert "set-cookie" not in response.headers


async def test_refresh_reads_the_cookie_and_rotates_it(client: httpx.AsyncClient) -> None:
    token, _ = await _login_cookie_mode(client)
    first = await client.post(
        "/v1/auth/refresh", headers={**COOKIE_MODE, "Cookie": f"pacer_refresh={token}"}
    )
    assert first.status_code == 200, first.text
    assert "refresh_token" not in first.json()
    rotated, _ = _refresh_cookie(first)
    assert rotated != token
    me = await client.get(
        "/v1/me", headers={"Authorization": f"Bearer {first.json()['access_token']}"}
    )
    assert me.status_code == 200
    # The old cookie is dead, and presenting it again ends the session.
    again = await client.post(
        "/v1/auth/refresh", headers={**COOKIE_MODE, "Cookie": f"pacer_refresh={token}"}
    )
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "invalid_refresh_token"


async def test_the_cookie_is_not_read_without_the_opt_in_header(
    client: httpx.AsyncClient,
) -> None:
    token, _ = await _login_cookie_mode(client)
    response = await client.post(
        "/v1/auth/refresh",
        headers={"Cookie": f"pacer_refresh={token}", "Content-Type": "application/json"},
        content=b"{}",
    )
    # Body mode: the body must carry the token; the cookie alone is no credential.
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "pacer_refresh=",
        "pacer_refresh=garbage",
        "pacer_refresh=" + "x" * 600,
        "other=1",
        'pacer_refresh="\x7f"',
    ],
)
async def test_refresh_without_a_usable_cookie_is_401_in_the_error_shape(
    client: httpx.AsyncClient, cookie: str | None
) -> None:
    response = await client.post("/v1/auth/refresh", headers=_cookie_mode(cookie))
    assert_error(response, 401, "invalid_refresh_token")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_logout_in_cookie_mode_ends_the_session_and_clears_the_cookie(
    client: httpx.AsyncClient,
) -> None:
    token, _ = await _login_cookie_mode(client)
    response = await client.post(
        "/v1/auth/logout", headers={**COOKIE_MODE, "Cookie": f"pacer_refresh={token}"}
    )
    assert response.status_code == 204
    cleared, line = _refresh_cookie(response)
    assert cleared in ("", '""')
    assert "Max-Age=0" in line and "Path=/v1/auth" in line
    refused = await client.post(
        "/v1/auth/refresh", headers={**COOKIE_MODE, "Cookie": f"pacer_refresh={token}"}
    )
    assert refused.status_code == 401


@pytest.mark.parametrize("cookie", [None, "pacer_refresh=garbage", "pacer_refresh=" + "y" * 600])
async def test_logout_in_cookie_mode_without_a_live_cookie_is_still_204(
    client: httpx.AsyncClient, cookie: str | None
) -> None:
    response = await client.post("/v1/auth/logout", headers=_cookie_mode(cookie))
    assert response.status_code == 204


async def test_a_wrong_password_in_cookie_mode_sets_no_cookie(client: httpx.AsyncClient) -> None:
    athlete = await register_and_login(client)
    response = await client.post(
        "/v1/auth/login",
        json={"email": athlete.email, "password": "not the password"},
        headers=COOKIE_MODE,
    )
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


async def test_cors_preflight_allows_the_opt_in_header(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/v1/auth/refresh",
        headers={
            "Origin": "https://app.pacer.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-pacer-refresh-cookie",
        },
    )
    assert response.status_code == 200
    assert "x-pacer-refresh-cookie" in response.headers["access-control-allow-headers"].lower()
