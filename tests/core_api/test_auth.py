from __future__ import annotations

import asyncio

import asyncpg
import httpx

from fixtures.core_api import PASSWORD, StartCoreApi, register_and_login


async def test_register_returns_the_user_without_secrets(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/auth/register",
        json={"email": "Mixed.Case@Example.com", "password": PASSWORD, "name": "Zoë"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "mixed.case@example.com"
    assert body["name"] == "Zoë"
    assert body["tier"] == "free"
    assert body["role"] == "athlete"
    assert "password" not in response.text and "hash" not in response.text


async def test_password_is_stored_as_an_argon2id_hash(
    client: httpx.AsyncClient, pg_pool: asyncpg.Pool
) -> None:
    athlete = await register_and_login(client)
    stored = await pg_pool.fetchval(
        "SELECT password_hash FROM users WHERE email = $1", athlete.email
    )
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_admin_emails_get_the_admin_role(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/auth/register",
        json={"email": "Boss@example.com", "password": PASSWORD, "name": "Boss"},
    )
    assert response.json()["role"] == "admin"


async def test_login_returns_a_token_pair_that_opens_me(client: httpx.AsyncClient) -> None:
    athlete = await register_and_login(client)
    me = await client.get("/v1/me", headers=athlete.headers)
    assert me.status_code == 200
    assert me.json()["email"] == athlete.email
    assert me.json()["id"] == athlete.id


async def test_login_token_shape(client: httpx.AsyncClient) -> None:
    await register_and_login(client, email="shape@example.com")
    response = await client.post(
        "/v1/auth/login", json={"email": "SHAPE@example.com", "password": PASSWORD}
    )
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["access_token"].count(".") == 2
    assert len(body["refresh_token"]) >= 40


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient) -> None:
    await register_and_login(client, email="known@example.com")
    wrong = await client.post(
        "/v1/auth/login", json={"email": "known@example.com", "password": "not the password"}
    )
    unknown = await client.post(
        "/v1/auth/login", json={"email": "nobody@example.com", "password": "not the password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"


async def test_refresh_rotates_and_the_old_token_stops_working(client: httpx.AsyncClient) -> None:
    athlete = await register_and_login(client)
    first = await client.post("/v1/auth/refresh", json={"refresh_token": athlete.refresh_token})
    assert first.status_code == 200
    rotated = first.json()["refresh_token"]
    assert rotated != athlete.refresh_token
    me = await client.get(
        "/v1/me", headers={"Authorization": f"Bearer {first.json()['access_token']}"}
    )
    assert me.status_code == 200

    again = await client.post("/v1/auth/refresh", json={"refresh_token": athlete.refresh_token})
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "invalid_refresh_token"


async def test_reusing_a_rotated_token_revokes_the_whole_family(client: httpx.AsyncClient) -> None:
    athlete = await register_and_login(client)
    rotated = (
        await client.post("/v1/auth/refresh", json={"refresh_token": athlete.refresh_token})
    ).json()["refresh_token"]
    # The old token comes back: a thief may hold it. Both must now be dead.
    await client.post("/v1/auth/refresh", json={"refresh_token": athlete.refresh_token})
    after = await client.post("/v1/auth/refresh", json={"refresh_token": rotated})
    assert after.status_code == 401


async def test_concurrent_refreshes_with_one_token_yield_one_success(
    client: httpx.AsyncClient,
) -> None:
    athlete = await register_and_login(client)
    responses = await asyncio.gather(
        *(
            client.post("/v1/auth/refresh", json={"refresh_token": athlete.refresh_token})
            for _ in range(5)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401, 401]


async def test_refresh_tokens_are_stored_hashed(
    client: httpx.AsyncClient, pg_pool: asyncpg.Pool
) -> None:
    athlete = await register_and_login(client)
    stored = await pg_pool.fetch("SELECT token_hash FROM refresh_tokens")
    assert len(stored) == 1
    assert athlete.refresh_token.encode() not in bytes(stored[0]["token_hash"])
    assert len(stored[0]["token_hash"]) == 32


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient) -> None:
    athlete = await register_and_login(client)
    out = await client.post("/v1/auth/logout", json={"refresh_token": athlete.refresh_token})
    assert out.status_code == 204
    refresh = await client.post("/v1/auth/refresh", json={"refresh_token": athlete.refresh_token})
    assert refresh.status_code == 401
    # Logging out twice is not an error.
    twice = await client.post("/v1/auth/logout", json={"refresh_token": athlete.refresh_token})
    assert twice.status_code == 204


async def test_repeated_failures_lock_the_account_for_a_while(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    async with start_core_api(LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP=3) as api:
        async with httpx.AsyncClient(base_url=api.base_url) as http:
            await register_and_login(http, email="locked@example.com")
            bad = {"email": "locked@example.com", "password": "wrong password"}
            for _ in range(3):
                assert (await http.post("/v1/auth/login", json=bad)).status_code == 401
            # Locked now, even with the right password.
            good = {"email": "locked@example.com", "password": PASSWORD}
            locked = await http.post("/v1/auth/login", json=good)
            assert locked.status_code == 429
            assert locked.json()["error"]["code"] == "rate_limited"
            retry_after = int(locked.headers["Retry-After"])
            assert 0 < retry_after <= api.settings.LOGIN_FAILURE_WINDOW_SECONDS
            # Another account is not affected.
            await register_and_login(http, email="other@example.com")


async def test_repeated_failures_from_one_address_get_429(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    async with start_core_api(LOGIN_MAX_FAILURES_PER_IP=4) as api:
        async with httpx.AsyncClient(base_url=api.base_url) as http:
            for number in range(4):
                bad = {"email": f"guess{number}@example.com", "password": "wrong password"}
                assert (await http.post("/v1/auth/login", json=bad)).status_code == 401
            fresh = {"email": "guess-new@example.com", "password": "wrong password"}
            assert (await http.post("/v1/auth/login", json=fresh)).status_code == 429


async def test_forwarded_address_is_trusted_only_from_the_proxy(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    # The test client connects from 127.0.0.1; make that an untrusted peer.
    async with start_core_api(LOGIN_MAX_FAILURES_PER_IP=2, TRUSTED_PROXIES=frozenset()) as api:
        async with httpx.AsyncClient(base_url=api.base_url) as http:
            for number in range(2):
                spoofed = {"X-Forwarded-For": f"10.0.0.{number}"}
                bad = {"email": f"spoof{number}@example.com", "password": "wrong password"}
                await http.post("/v1/auth/login", json=bad, headers=spoofed)
            # Spoofing a new address does not escape the per-address limit.
            again = await http.post(
                "/v1/auth/login",
                json={"email": "spoof9@example.com", "password": "wrong password"},
                headers={"X-Forwarded-For": "10.0.0.99"},
            )
            assert again.status_code == 429


async def test_login_still_works_when_redis_is_down(start_core_api: StartCoreApi) -> None:
    from fixtures.infra import free_port

    async with start_core_api(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0") as api:
        async with httpx.AsyncClient(base_url=api.base_url) as http:
            athlete = await register_and_login(http)
            assert (await http.get("/v1/me", headers=athlete.headers)).status_code == 200
