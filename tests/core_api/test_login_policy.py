"""Issue 19, accounts: how login answers strangers and owners.

- An unknown email costs the same password hash as a wrong password (point 6).
- Failures are limited per (account, address) and per address; for the account
  as a whole they only slow attempts down, so a stranger's failures never keep
  the owner out from another address (point 5).
"""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx

from fixtures.core_api import PASSWORD, StartCoreApi, register_and_login
from pacer_core_api.security.login_throttle import FIRST_DELAY_S, LoginLimits

# A real hash cost (tests elsewhere use a trivial one): timing differences show.
SLOW_HASH = {"ARGON2_TIME_COST": 2, "ARGON2_MEMORY_KIB": 32 * 1024, "ARGON2_PARALLELISM": 1}
ROUNDS = 7


async def _login_seconds(http: httpx.AsyncClient, email: str, address: str) -> float:
    started = time.perf_counter()
    response = await http.post(
        "/v1/auth/login",
        json={"email": email, "password": "not the password"},
        headers={"X-Forwarded-For": address},
    )
    took = time.perf_counter() - started
    assert response.status_code == 401, response.text
    return took


async def test_an_unknown_email_takes_as_long_as_a_wrong_password(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    # No slowdown here: it would add its own wait to the known account's attempts.
    async with start_core_api(**SLOW_HASH, LOGIN_ACCOUNT_SLOWDOWN_AFTER_FAILURES=1000) as api:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
            await register_and_login(http, email="known@example.com")
            wrong: list[float] = []
            unknown: list[float] = []
            # Interleaved, each from its own address: no throttle in the way, and
            # a busy moment of the machine lands on both sides alike.
            for index in range(ROUNDS):
                wrong.append(await _login_seconds(http, "known@example.com", f"10.1.0.{index}"))
                unknown.append(
                    await _login_seconds(http, f"nobody{index}@example.com", f"10.2.0.{index}")
                )
    wrong_s, unknown_s = statistics.median(wrong), statistics.median(unknown)
    # The hash dominates both: an unknown email is not measurably faster.
    assert unknown_s > 0.7 * wrong_s, (
        f"unknown {unknown_s * 1000:.0f} ms, wrong {wrong_s * 1000:.0f} ms"
    )


async def _login(
    http: httpx.AsyncClient, email: str, password: str, address: str
) -> httpx.Response:
    return await http.post(
        "/v1/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": address},
    )


async def test_a_strangers_failures_never_keep_the_owner_out_from_elsewhere(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    async with start_core_api(LOGIN_ACCOUNT_MAX_DELAY_SECONDS=1.0) as api:
        limit = api.settings.LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
            await register_and_login(http, email="owner@example.com")
            # A stranger guesses from one address until that address is refused for
            # the account: the right password from there is refused too.
            for _ in range(limit):
                wrong = await _login(http, "owner@example.com", "guess guess", "203.0.113.9")
                assert wrong.status_code == 401
            refused = await _login(http, "owner@example.com", PASSWORD, "203.0.113.9")
            assert refused.status_code == 429
            assert (
                0 < int(refused.headers["Retry-After"]) <= api.settings.LOGIN_FAILURE_WINDOW_SECONDS
            )
            # ... and goes on from ever more addresses (the lock was renewable forever).
            await asyncio.gather(
                *(
                    _login(http, "owner@example.com", "guess", f"198.18.0.{address}")
                    for address in range(1, 9)
                    for _ in range(limit)
                )
            )
            # The owner, from home: slowed down (the account is under attack), never refused.
            started = time.perf_counter()
            owner = await _login(http, "owner@example.com", PASSWORD, "192.0.2.44")
            took = time.perf_counter() - started
            assert owner.status_code == 200, owner.text
            assert took >= FIRST_DELAY_S
            assert took < api.settings.LOGIN_ACCOUNT_MAX_DELAY_SECONDS + 5


async def test_an_address_full_of_failures_still_lets_in_who_signed_in_there(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    """A shared NAT: one user there sprays guesses; the others who sign in from
    there keep signing in, a new account from there is refused."""
    async with start_core_api(LOGIN_MAX_FAILURES_PER_IP=4) as api:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
            nat = "100.64.0.1"
            await register_and_login(http, email="colleague@example.com")
            first = await _login(http, "colleague@example.com", PASSWORD, nat)
            assert first.status_code == 200
            for index in range(4):
                await _login(http, f"victim{index}@example.com", "guess", nat)
            # Spraying from the NAT now stops there...
            spray = await _login(http, "victim9@example.com", "guess", nat)
            assert spray.status_code == 429
            # ... but not for an account that has signed in from it before.
            again = await _login(http, "colleague@example.com", PASSWORD, nat)
            assert again.status_code == 200, again.text


def test_the_account_wide_delay_starts_at_the_threshold_doubles_and_is_capped() -> None:
    limits = LoginLimits(
        max_per_account_and_ip=5,
        max_per_ip=20,
        account_slowdown_after=5,
        account_max_delay_s=4.0,
        window_s=900,
    )
    delays = [limits.delay_s(failures) for failures in range(3, 12)]
    assert delays == [0.0, 0.0, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert limits.delay_s(10**9) == 4.0
