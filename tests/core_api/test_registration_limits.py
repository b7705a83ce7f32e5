"""Issue 19, point 4: sign-ups are throttled per address and for everyone, never
hold up a login's password check, and a flood of new accounts cannot turn into
a flood of LLM briefings."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from fixtures.core_api import PASSWORD, StartCoreApi, register_and_login
from fixtures.errors import assert_error

SLOW_HASH = {"ARGON2_TIME_COST": 2, "ARGON2_MEMORY_KIB": 32 * 1024, "ARGON2_PARALLELISM": 1}


async def _register(http: httpx.AsyncClient, email: str, address: str) -> httpx.Response:
    return await http.post(
        "/v1/auth/register",
        json={"email": email, "password": PASSWORD, "name": "Runner"},
        headers={"X-Forwarded-For": address},
    )


async def _users(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM users")
    return count


async def _three_then_refused(
    http: httpx.AsyncClient, name: str, addresses: list[str], refused_from: str
) -> int:
    """Three sign-ups, one from each of ``addresses``, each through; then a fourth,
    from ``refused_from``, refused as rate limited. Its Retry-After."""
    for index, address in enumerate(addresses):
        created = await _register(http, f"{name}{index}@example.com", address)
        assert created.status_code == 201, created.text
    refused = await _register(http, f"{name}9@example.com", refused_from)
    assert_error(refused, 429, "rate_limited", retry_after=True)
    return int(refused.headers["Retry-After"])


async def test_sign_ups_from_one_address_are_limited(
    start_core_api: StartCoreApi, clean_state: None, pg_pool: asyncpg.Pool
) -> None:
    async with start_core_api(REGISTER_MAX_PER_IP=3) as api:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
            retry_after = await _three_then_refused(
                http, "farm", ["203.0.113.7"] * 3, "203.0.113.7"
            )
            assert 0 < retry_after <= api.settings.REGISTER_IP_WINDOW_SECONDS
            assert await _users(pg_pool) == 3
            # Another address is not affected.
            elsewhere = await _register(http, "farm9@example.com", "198.51.100.7")
            assert elsewhere.status_code == 201


async def test_sign_ups_from_everywhere_together_are_limited(
    start_core_api: StartCoreApi, clean_state: None, pg_pool: asyncpg.Pool
) -> None:
    async with start_core_api(REGISTER_MAX_GLOBAL=3) as api:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
            addresses = [f"198.18.1.{index}" for index in range(3)]
            retry_after = await _three_then_refused(http, "bot", addresses, "198.18.1.99")
            assert retry_after <= api.settings.REGISTER_GLOBAL_WINDOW_SECONDS
            assert await _users(pg_pool) == 3


async def test_a_flood_of_sign_ups_never_holds_up_a_login(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    flood = 12
    async with start_core_api(**SLOW_HASH, PASSWORD_HASH_CONCURRENCY=1) as api:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as http:
            await register_and_login(http, email="regular@example.com")
            sign_ups = [
                asyncio.create_task(_register(http, f"flood{n}@example.com", f"198.19.0.{n}"))
                for n in range(flood)
            ]
            # Once one sign-up is through, all of them have arrived and wait for a hash.
            await asyncio.wait(sign_ups, return_when=asyncio.FIRST_COMPLETED)
            login = await http.post(
                "/v1/auth/login", json={"email": "regular@example.com", "password": PASSWORD}
            )
            still_waiting = sum(not task.done() for task in sign_ups)
            statuses = [response.status_code for response in await asyncio.gather(*sign_ups)]
    assert login.status_code == 200
    assert statuses == [201] * flood
    # The login did not queue behind the sign-ups' hashes (it used to wait for all).
    assert still_waiting >= flood // 2, f"only {still_waiting} sign-ups were left"


async def test_first_briefings_of_new_accounts_share_a_budget(
    start_core_api: StartCoreApi, clean_state: None, pg_pool: asyncpg.Pool
) -> None:
    async with start_core_api(NEW_ACCOUNT_BRIEFINGS_PER_MINUTE=2) as api:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
            athletes = [await register_and_login(http) for _ in range(3)]
            statuses = []
            for athlete in athletes:
                home = await http.get("/v1/home", headers=athlete.headers)
                assert home.status_code == 200
                statuses.append(home.json()["briefing"]["status"])
            assert statuses == ["pending", "pending", "unavailable"]
            # The third costs no job (and so no LLM call): one Redis counter.
            subjects = {row["subject"] for row in await pg_pool.fetch("SELECT subject FROM jobs")}
            assert subjects == {athletes[0].id, athletes[1].id}
            # Its next view asks again (nothing was claimed for it): refused while the
            # minute's budget is spent, and the rule-based briefing keeps answering.
            again = await http.get("/v1/home", headers=athletes[2].headers)
            assert again.json()["briefing"]["source"] == "rules"
