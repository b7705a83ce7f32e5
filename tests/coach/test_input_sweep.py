"""Every coach route, swept with the input classes that once made a route answer 500.

Out-of-range dates and numbers in every query parameter, text with no visible
character in the chat message, hostile path ids, and a valid token whose account
was deleted on every authenticated route: below 500 always, the JSON error shape
on a 4xx, 401 for the deleted account, and no quota spent by a refused message.
The exact answers to the probe's own cases are in test_bad_input.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from fixtures.coach import Coach, coach_settings
from fixtures.core_api import Athlete, CoreApi, register_and_login
from fixtures.hostile_inputs import DATES, INVISIBLE, QUERY_NUMBERS, assert_not_500, served_routes
from pacer_coach.app import create_app
from pacer_coach.chat.streams import OpenStreams

CONVERSATION = "/v1/coach/conversations/{conversation_id}"
REPLY_STREAM = "/v1/coach/messages/{message_id}/stream"
REPLY_CANCEL = "/v1/coach/messages/{message_id}/cancel"
SESSION = "/v1/coach/sessions/{session_id}"
SESSION_MESSAGES = "/v1/coach/sessions/{session_id}/messages"
SESSION_COMPLETE = "/v1/coach/sessions/{session_id}/complete"
ROUTES = {
    ("GET", REPLY_STREAM),
    ("POST", REPLY_CANCEL),
    ("GET", "/health"),
    ("GET", "/health/ready"),
    ("POST", "/v1/coach/chat"),
    ("GET", "/v1/coach/conversations"),
    ("GET", CONVERSATION),
    ("GET", "/v1/coach/events"),
    ("POST", "/v1/coach/sessions"),
    ("GET", "/v1/coach/sessions"),
    ("GET", SESSION),
    ("POST", SESSION_MESSAGES),
    ("POST", SESSION_COMPLETE),
}
HOSTILE_IDS = ["0", "-1", "9" * 40, "00000000-0000-0000-0000-00000000000g", "%00", "..%2f..%2fetc"]


def test_the_sweep_lists_every_route(jwt_key_files: tuple[Path, Path]) -> None:
    settings = coach_settings("postgresql://unused", jwt_key_files, "http://127.0.0.1:1")
    assert served_routes(create_app(settings, OpenStreams.from_settings(settings))) == ROUTES


@pytest.fixture(scope="module")
async def http(coach: Coach) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def someone(core_api: CoreApi) -> Athlete:
    async with httpx.AsyncClient(base_url=core_api.base_url) as client:
        return await register_and_login(client)


async def _quota_used(pool: asyncpg.Pool, athlete: Athlete) -> int:
    used = await pool.fetchval(
        "SELECT coalesce(sum(used), 0) FROM chat_quota WHERE user_id = $1", uuid.UUID(athlete.id)
    )
    return int(used)


async def test_health_routes_never_500(http: httpx.AsyncClient) -> None:
    for path in ("/health", "/health/ready"):
        assert_not_500(await http.get(path), path)


@pytest.mark.parametrize("message", INVISIBLE)
async def test_a_message_with_no_visible_character_is_422_and_spends_nothing(
    http: httpx.AsyncClient, someone: Athlete, pg_pool: asyncpg.Pool, message: str
) -> None:
    before = await _quota_used(pg_pool, someone)
    response = await http.post("/v1/coach/chat", json={"message": message}, headers=someone.headers)
    assert response.status_code == 422, response.text
    assert_not_500(response, repr(message))
    assert await _quota_used(pg_pool, someone) == before


async def test_hostile_conversation_ids_never_500(
    http: httpx.AsyncClient, someone: Athlete
) -> None:
    for value in HOSTILE_IDS:
        chat = await http.post(
            "/v1/coach/chat",
            json={"message": "hi", "conversation_id": value},
            headers=someone.headers,
        )
        assert chat.status_code == 422, f"conversation_id={value}: {chat.text}"
        assert_not_500(chat, f"conversation_id={value}")
        read = await http.get(f"/v1/coach/conversations/{value}", headers=someone.headers)
        assert_not_500(read, f"GET conversation {value}")


# Header values h11 lets through: hostile Idempotency-Keys reach the handler.
HOSTILE_IDEMPOTENCY_KEYS: list[str | bytes] = [
    "k" * 256,
    "k" * 10_000,
    '""',
    "a\tb",
    b"\xff\xfe",
    "\u00e9".encode("latin-1"),
    "x" * 255 + '"',
]


async def test_hostile_idempotency_keys_are_400_and_spend_nothing(
    http: httpx.AsyncClient, someone: Athlete, pg_pool: asyncpg.Pool
) -> None:
    before = await _quota_used(pg_pool, someone)
    for value in HOSTILE_IDEMPOTENCY_KEYS:
        headers: dict[str, Any] = {**someone.headers, "Idempotency-Key": value}
        response = await http.post("/v1/coach/chat", json={"message": "hi"}, headers=headers)
        assert response.status_code == 400, f"Idempotency-Key={value!r}: {response.text}"
        assert_not_500(response, f"Idempotency-Key={value!r}")
        assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert await _quota_used(pg_pool, someone) == before


async def test_hostile_message_ids_never_500(http: httpx.AsyncClient, someone: Athlete) -> None:
    for value in HOSTILE_IDS:
        for method, path in (("GET", REPLY_STREAM), ("POST", REPLY_CANCEL)):
            response = await http.request(
                method, path.format(message_id=value), headers=someone.headers
            )
            assert response.status_code == 404, f"{method} {value}: {response.text}"
            assert_not_500(response, f"{method} {path} {value}")


async def test_hostile_session_ids_never_500(http: httpx.AsyncClient, someone: Athlete) -> None:
    for value in HOSTILE_IDS:
        for method, path, body in (
            ("GET", SESSION, None),
            ("POST", SESSION_MESSAGES, {"message": "hi"}),
            ("POST", SESSION_COMPLETE, None),
        ):
            response = await http.request(
                method, path.format(session_id=value), json=body, headers=someone.headers
            )
            assert 400 <= response.status_code < 500, f"{method} {value}: {response.text}"
            assert_not_500(response, f"{method} {path} {value}")


@pytest.mark.parametrize("message", INVISIBLE)
async def test_a_session_message_with_no_visible_character_is_422(
    http: httpx.AsyncClient, someone: Athlete, message: str
) -> None:
    # Refused before the session is looked up: any id will do.
    response = await http.post(
        SESSION_MESSAGES.format(session_id=uuid.uuid4()),
        json={"message": message},
        headers=someone.headers,
    )
    assert response.status_code == 422, response.text
    assert_not_500(response, repr(message))


@pytest.mark.parametrize("path", ["/v1/coach/conversations", "/v1/coach/sessions"])
@pytest.mark.parametrize("before", DATES)
async def test_hostile_before_never_500(
    http: httpx.AsyncClient, someone: Athlete, before: str, path: str
) -> None:
    response = await http.get(path, params={"before": before}, headers=someone.headers)
    assert_not_500(response, f"{path} before={before}")


@pytest.mark.parametrize("path", ["/v1/coach/conversations", "/v1/coach/sessions"])
async def test_hostile_limits_never_500(
    http: httpx.AsyncClient, someone: Athlete, path: str
) -> None:
    for value in QUERY_NUMBERS:
        response = await http.get(path, params={"limit": value}, headers=someone.headers)
        assert_not_500(response, f"{path} limit={value}")


async def test_hostile_topics_and_prefer_never_500(
    http: httpx.AsyncClient, someone: Athlete
) -> None:
    for topic in ["x" * 10_000, "\u0000", "onboarding\n", "../onboarding", "\u200b", None, 1]:
        response = await http.post(
            "/v1/coach/sessions", json={"topic": topic}, headers=someone.headers
        )
        assert 400 <= response.status_code < 500, f"topic={topic!r}: {response.text}"
        assert_not_500(response, f"topic={topic!r}")
    for prefer in ["wait=" + "9" * 5000, "wait=\u00e9", ",,,;;;===", 'wait="', "wait=1e9"]:
        headers: dict[str, Any] = {**someone.headers, "Prefer": prefer.encode("utf-8")}
        response = await http.post(
            SESSION_COMPLETE.format(session_id=uuid.uuid4()), headers=headers
        )
        assert 400 <= response.status_code < 500, f"Prefer={prefer!r}: {response.text}"
        assert_not_500(response, f"Prefer={prefer!r}")


async def test_a_deleted_account_gets_401_on_every_authenticated_route(
    http: httpx.AsyncClient, core_api: CoreApi, pg_pool: asyncpg.Pool
) -> None:
    async with httpx.AsyncClient(base_url=core_api.base_url) as client:
        ghost = await register_and_login(client)
    await pg_pool.execute("DELETE FROM users WHERE id = $1", uuid.UUID(ghost.id))
    for method, path, body in [
        ("POST", "/v1/coach/chat", {"message": "Still there?"}),
        ("GET", "/v1/coach/conversations", None),
        ("GET", CONVERSATION.format(conversation_id=uuid.uuid4()), None),
        ("GET", REPLY_STREAM.format(message_id=uuid.uuid4()), None),
        ("POST", REPLY_CANCEL.format(message_id=uuid.uuid4()), None),
        ("GET", "/v1/coach/events", None),
        ("POST", "/v1/coach/sessions", {"topic": "onboarding"}),
        ("GET", "/v1/coach/sessions", None),
        ("GET", SESSION.format(session_id=uuid.uuid4()), None),
        ("POST", SESSION_MESSAGES.format(session_id=uuid.uuid4()), {"message": "Still there?"}),
        ("POST", SESSION_COMPLETE.format(session_id=uuid.uuid4()), None),
    ]:
        response = await http.request(method, path, json=body, headers=ghost.headers)
        assert response.status_code == 401, f"{method} {path}: {response.text}"
        assert response.headers["www-authenticate"] == "Bearer"
        assert_not_500(response, path)
