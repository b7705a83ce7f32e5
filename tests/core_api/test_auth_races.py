"""Auth decisions that must hold when requests arrive at the same moment.

Each test sends its requests together (``asyncio.gather``) and repeats: a race
lost once in twenty rounds is still a hole. The assertions are about outcomes
that every interleaving must share, never about which request won.
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx

from fixtures.core_api import PASSWORD, Athlete, StartCoreApi, register_and_login

ROUNDS = 20


async def refresh(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post("/v1/auth/refresh", json={"refresh_token": token})


async def login(http: httpx.AsyncClient, email: str, password: str) -> int:
    response = await http.post("/v1/auth/login", json={"email": email, "password": password})
    return response.status_code


async def new_session(http: httpx.AsyncClient, email: str) -> str:
    """Log in again: a new session of the same user, its refresh token."""
    tokens = (await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})).json()
    token: str = tokens["refresh_token"]
    return token


async def surviving_tokens(
    http: httpx.AsyncClient, email: str, race: Callable[[str], Awaitable[httpx.Response | None]]
) -> list[int]:
    """Run ``race`` on a new session's refresh token, ROUNDS times. ``race`` returns the
    refresh that won (None when none did): the token it was given must be dead by then.
    The statuses of those that still refreshed."""
    survivors = []
    for _ in range(ROUNDS):
        won = await race(await new_session(http, email))
        if won is not None:
            after = await refresh(http, won.json()["refresh_token"])
            if after.status_code != 401:
                survivors.append(after.status_code)
    return survivors


@asynccontextmanager
async def throttled_api(
    start_core_api: StartCoreApi, **settings: object
) -> AsyncIterator[httpx.AsyncClient]:
    """A core-api of its own with these throttle limits, and a client for it."""
    async with start_core_api(**settings) as api:
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:
            yield http


# --- refresh tokens: rotation, reuse and logout are one decision per session ---------------


async def refresh_against_logout(http: httpx.AsyncClient, token: str) -> httpx.Response | None:
    refreshed, logged_out = await asyncio.gather(
        refresh(http, token), http.post("/v1/auth/logout", json={"refresh_token": token})
    )
    assert logged_out.status_code == 204
    assert refreshed.status_code in (200, 401), refreshed.text
    # When the refresh won the race, the logout came after it: its token is dead too.
    return refreshed if refreshed.status_code == 200 else None


async def refresh_twice(http: httpx.AsyncClient, token: str) -> httpx.Response:
    first, second = await asyncio.gather(refresh(http, token), refresh(http, token))
    assert sorted([first.status_code, second.status_code]) == [200, 401]
    # The loser presented a token that was already used: the winner's new one dies with it.
    return first if first.status_code == 200 else second


async def test_a_refresh_racing_a_logout_leaves_no_live_token(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    race = functools.partial(refresh_against_logout, client)
    assert await surviving_tokens(client, athlete.email, race) == []


async def test_one_token_presented_twice_at_once_ends_the_session(
    client: httpx.AsyncClient, athlete: Athlete
) -> None:
    race = functools.partial(refresh_twice, client)
    assert await surviving_tokens(client, athlete.email, race) == []


async def test_a_reused_token_ends_the_session_even_after_more_rotations(
    client: httpx.AsyncClient,
) -> None:
    athlete = await register_and_login(client)
    first = (await refresh(client, athlete.refresh_token)).json()["refresh_token"]
    latest = (await refresh(client, first)).json()["refresh_token"]
    reused = await refresh(client, athlete.refresh_token)
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "invalid_refresh_token"
    assert (await refresh(client, latest)).status_code == 401
    # Another session of the same user is not touched.
    other = await new_session(client, athlete.email)
    assert (await refresh(client, other)).status_code == 200


async def test_after_logout_no_token_of_the_session_refreshes(client: httpx.AsyncClient) -> None:
    athlete = await register_and_login(client)
    rotated = (await refresh(client, athlete.refresh_token)).json()["refresh_token"]
    # Logging out with an old token of the session ends the whole session.
    out = await client.post("/v1/auth/logout", json={"refresh_token": athlete.refresh_token})
    assert out.status_code == 204
    assert (await refresh(client, rotated)).status_code == 401


# --- the login throttle: the attempt is counted before the password is checked ------------


async def test_a_burst_of_wrong_passwords_is_evaluated_at_most_the_limit(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    async with throttled_api(start_core_api, LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP=5) as http:
        await register_and_login(http, email="burst@example.com")
        statuses = await asyncio.gather(
            *(login(http, "burst@example.com", "wrong password") for _ in range(30))
        )
        assert collections.Counter(statuses) == {401: 5, 429: 25}


async def test_the_right_password_in_a_burst_of_wrong_ones_does_not_open_the_account(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    async with throttled_api(start_core_api, LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP=5) as http:
        await register_and_login(http, email="guessed@example.com")
        attempts = [login(http, "guessed@example.com", "wrong password") for _ in range(99)]
        attempts.append(login(http, "guessed@example.com", PASSWORD))
        statuses = collections.Counter(await asyncio.gather(*attempts))
        # Whatever the order of arrival: five wrong guesses are checked, no more.
        assert statuses[401] == 5, statuses
        assert set(statuses) <= {200, 401, 429}, statuses
        assert statuses[200] <= 1
        # The account is locked now, even for the right password.
        assert await login(http, "guessed@example.com", PASSWORD) == 429


async def test_a_burst_from_one_address_is_evaluated_at_most_the_address_limit(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    async with throttled_api(start_core_api, LOGIN_MAX_FAILURES_PER_IP=4) as http:
        statuses = await asyncio.gather(
            *(login(http, f"spread{n}@example.com", "wrong password") for n in range(20))
        )
        assert collections.Counter(statuses) == {401: 4, 429: 16}


async def test_logins_in_flight_wait_a_second_and_successes_use_up_no_attempts(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    async with throttled_api(
        start_core_api, LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP=2, LOGIN_MAX_FAILURES_PER_IP=3
    ) as http:
        await register_and_login(http, email="regular@example.com")
        good = {"email": "regular@example.com", "password": PASSWORD}
        responses = await asyncio.gather(
            *(http.post("/v1/auth/login", json=good) for _ in range(10))
        )
        # At most two are checked at once; the others are told to retry at once,
        # not to wait out the failure window: nothing has failed.
        assert {r.status_code for r in responses} <= {200, 429}
        assert all(r.headers["Retry-After"] == "1" for r in responses if r.status_code == 429)
        for _ in range(10):
            assert await login(http, "regular@example.com", PASSWORD) == 200
        # Failures still count after all those successes.
        assert await login(http, "regular@example.com", "wrong password") == 401
        assert await login(http, "regular@example.com", "wrong password") == 401
        locked = await http.post("/v1/auth/login", json=good)
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) > 1
