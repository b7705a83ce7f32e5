"""Bad input on every session route: a 4xx in the JSON error shape, nothing spent or queued.

Malformed ids are 422 (``session id: must be a UUID``), as on
/v1/coach/conversations/{id}; someone else's session is the 404 of a missing one.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from fixtures.coach import StartCoach
from fixtures.coach_sessions import complete, create_session, say
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim

pytestmark = pytest.mark.usefixtures("session_topics")


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error


async def spent(pool: asyncpg.Pool, athlete: Athlete) -> tuple[int, int, int]:
    """(quota used, messages stored, extraction jobs) for the athlete."""
    user_id = uuid.UUID(athlete.id)
    used = await pool.fetchval(
        "SELECT coalesce(sum(used), 0) FROM chat_quota WHERE user_id = $1", user_id
    )
    messages = await pool.fetchval(
        """SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
           WHERE c.user_id = $1""",
        user_id,
    )
    jobs = await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'extraction'")
    return int(used), int(messages), int(jobs)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"topic": "marathon_magic"}, 422, "unknown_topic"),
        ({"topic": "Onboarding!"}, 422, "validation_error"),
        ({"topic": ""}, 422, "validation_error"),
        ({"topic": 7}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"topic": "onboarding", "extra": 1}, 422, "validation_error"),
        ([], 422, "validation_error"),
    ],
)
async def test_creating_with_a_bad_topic_is_4xx(
    coach_client: httpx.AsyncClient, runner: Athlete, body: Any, status: int, code: str
) -> None:
    response = await coach_client.post("/v1/coach/sessions", json=body, headers=runner.headers)
    assert_error(response, status, code)


async def test_an_unknown_topic_names_the_topics_there_are(
    coach_client: httpx.AsyncClient, runner: Athlete
) -> None:
    response = await coach_client.post(
        "/v1/coach/sessions", json={"topic": "marathon_magic"}, headers=runner.headers
    )
    assert_error(response, 422, "unknown_topic")
    assert "onboarding, race_debrief" in response.json()["error"]["message"]
    assert response.json()["error"]["details"][0]["field"] == "topic"


async def test_create_refuses_other_media_types_broken_json_and_no_token(
    coach_client: httpx.AsyncClient, runner: Athlete
) -> None:
    as_text = await coach_client.post(
        "/v1/coach/sessions",
        content=b'{"topic": "onboarding"}',
        headers={**runner.headers, "Content-Type": "text/plain"},
    )
    assert_error(as_text, 415)
    broken = await coach_client.post(
        "/v1/coach/sessions",
        content=b'{"topic": ',
        headers={**runner.headers, "Content-Type": "application/json"},
    )
    assert_error(broken, 400, "malformed_json")
    anonymous = await coach_client.post("/v1/coach/sessions", json={"topic": "onboarding"})
    assert_error(anonymous, 401)


@pytest.mark.parametrize("value", ["not-a-uuid", "0", "00000000-0000-0000-0000-00000000000g"])
async def test_malformed_session_ids_are_422_on_every_route(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool, value: str
) -> None:
    before = await spent(pg_pool, runner)
    base = f"/v1/coach/sessions/{value}"
    for method, path, body in (
        ("GET", base, None),
        ("POST", f"{base}/messages", {"message": "hi"}),
        ("POST", f"{base}/complete", None),
    ):
        response = await coach_client.request(method, path, json=body, headers=runner.headers)
        assert_error(response, 422, "validation_error")
    assert await spent(pg_pool, runner) == before


async def test_someone_elses_session_and_an_unknown_one_are_404(
    coach_client: httpx.AsyncClient,
    runner: Athlete,
    other_runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
) -> None:
    theirs = await create_session(coach_client, other_runner)
    before = await spent(pg_pool, runner)
    for session_id in (theirs["id"], str(uuid.uuid4())):
        read = await coach_client.get(f"/v1/coach/sessions/{session_id}", headers=runner.headers)
        assert_error(read, 404, "not_found")
        message = await say(coach_client, runner, session_id, key=f"k-{session_id}")
        assert message.status_code == 404 and message.body is not None
        assert message.body["error"]["code"] == "not_found"
        assert_error(await complete(coach_client, runner, session_id, "wait=0"), 404, "not_found")
    assert await spent(pg_pool, runner) == before
    assert (await sim.stats())["requests"] == 0
    status = await pg_pool.fetchval(
        "SELECT status FROM coach_sessions WHERE id = $1", uuid.UUID(theirs["id"])
    )
    assert status == "active"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"message": "x" * 4001}, "validation_error"),
        ({"message": ""}, "validation_error"),
        ({"message": "\u200b\u200b"}, "validation_error"),
        ({"message": "hi", "conversation_id": str(uuid.uuid4())}, "validation_error"),
        ({"message": 5}, "validation_error"),
        ({}, "validation_error"),
    ],
    ids=["oversize", "empty", "invisible", "conversation_id", "not text", "missing"],
)
async def test_a_bad_message_is_422_and_spends_nothing(
    coach_client: httpx.AsyncClient,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    body: dict[str, Any],
    code: str,
) -> None:
    session = await create_session(coach_client, runner)
    before = await spent(pg_pool, runner)
    response = await coach_client.post(
        f"/v1/coach/sessions/{session['id']}/messages", json=body, headers=runner.headers
    )
    assert_error(response, 422, code)
    assert await spent(pg_pool, runner) == before
    assert (await sim.stats())["requests"] == 0


async def test_a_malformed_idempotency_key_on_a_session_message_is_400(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool
) -> None:
    session = await create_session(coach_client, runner)
    result = await say(coach_client, runner, session["id"], key="k" * 256)
    assert result.status_code == 400 and result.body is not None
    assert result.body["error"]["code"] == "invalid_idempotency_key"


async def test_one_key_for_two_sessions_is_a_reuse(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim
) -> None:
    first = await create_session(coach_client, runner)
    second = await create_session(coach_client, runner)
    assert (await say(coach_client, runner, first["id"], "hi", key="same")).status_code == 200
    reused = await say(coach_client, runner, second["id"], "hi", key="same")
    assert reused.status_code == 422 and reused.body is not None
    assert reused.body["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    "prefer",
    ["wait=abc", "wait=-1", "wait=1.5", "wait", "wait=", 'wait="x"', "respond-async, wait=soon"],
)
async def test_a_malformed_prefer_wait_is_400_and_queues_nothing(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool, prefer: str
) -> None:
    session = await create_session(coach_client, runner)
    response = await complete(coach_client, runner, session["id"], prefer)
    assert_error(response, 400, "invalid_prefer")
    assert (await spent(pg_pool, runner))[2] == 0
    status = await pg_pool.fetchval(
        "SELECT status FROM coach_sessions WHERE id = $1", uuid.UUID(session["id"])
    )
    assert status == "active"


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "101"}, {"before": "yesterday"}])
async def test_a_bad_list_query_is_422(
    coach_client: httpx.AsyncClient, runner: Athlete, params: dict[str, str]
) -> None:
    response = await coach_client.get("/v1/coach/sessions", params=params, headers=runner.headers)
    assert_error(response, 422, "validation_error")


async def test_active_sessions_are_capped_per_user(
    start_coach: StartCoach, runner: Athlete, other_runner: Athlete, pg_pool: asyncpg.Pool
) -> None:
    async with start_coach(COACH_MAX_ACTIVE_SESSIONS=2) as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as client:
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/v1/coach/sessions", json={"topic": "onboarding"}, headers=runner.headers
                    )
                    for _ in range(4)
                )
            )
            assert sorted(answer.status_code for answer in answers) == [201, 201, 409, 409]
            refused = next(answer for answer in answers if answer.status_code == 409)
            assert_error(refused, 409, "too_many_active_sessions")
            assert refused.json()["error"]["limit"] == 2
            # Per user; and a session no longer active frees its place.
            assert (await create_session(client, other_runner))["status"] == "active"
            await pg_pool.execute(
                "UPDATE coach_sessions SET status = 'extracting' WHERE id = $1",
                uuid.UUID(next(a.json()["id"] for a in answers if a.status_code == 201)),
            )
            assert (await create_session(client, runner))["status"] == "active"
