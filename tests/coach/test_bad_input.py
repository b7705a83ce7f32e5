"""Bad input to the coach's routes, case by case: a clear 4xx in the error shape, and
nothing written.

Chat first; then the inputs an adversarial probe found (issue 9: dates and numbers out
of the driver's range, ids that are not ids, a token that outlives its account, messages
with no visible character); then every coaching-session route (nothing spent or queued
there either): malformed session ids are 422 (``session id: must be a UUID``), as on
/v1/coach/conversations/{id}; someone else's session is the 404 of a missing one.
Every route swept with every class of hostile input is test_input_sweep.py.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fixtures.coach import StartCoach, chat
from fixtures.coach_sessions import complete, create_session, say
from fixtures.core_api import Athlete
from fixtures.errors import assert_error
from fixtures.llm_sim import LLMSim
from fixtures.tokens import access_claims, sign


async def _counts(pool: asyncpg.Pool, *, with_usage: bool = True) -> tuple[int, ...]:
    """Conversations, messages, quota used and (``with_usage``) LLM usage rows."""
    row = await pool.fetchrow(
        """SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages),
                  (SELECT coalesce(sum(used), 0) FROM chat_quota), (SELECT count(*) FROM llm_usage)"""
    )
    assert row is not None
    return (row[0], row[1], row[2], row[3]) if with_usage else (row[0], row[1], row[2])


BODIES: list[tuple[str, Any, int]] = [
    ("malformed JSON", b'{"message": ', 400),
    ("array", b"[1, 2]", 422),
    ("missing message", {}, 422),
    ("empty message", {"message": ""}, 422),
    ("blank message", {"message": "   "}, 422),
    ("number message", {"message": 42}, 422),
    ("extra field", {"message": "hi", "model": "CLAUDE_SONNET"}, 422),
    ("too long", {"message": "x" * 4001}, 422),
    ("NUL character", {"message": "hi\x00there"}, 422),
    (
        "conversation id not a uuid",
        {"message": "hi", "conversation_id": "42; DROP TABLE messages"},
        422,
    ),
    ("unknown conversation", {"message": "hi", "conversation_id": str(uuid.uuid4())}, 404),
]


@pytest.mark.parametrize(("body", "status"), [b[1:] for b in BODIES], ids=[b[0] for b in BODIES])
async def test_bad_chat_bodies(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool, body: Any, status: int
) -> None:
    before = await _counts(pg_pool)
    if isinstance(body, bytes):
        response = await coach_client.post(
            "/v1/coach/chat",
            content=body,
            headers={**runner.headers, "Content-Type": "application/json"},
        )
    else:
        response = await coach_client.post("/v1/coach/chat", json=body, headers=runner.headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]
    assert await _counts(pg_pool) == before


async def test_wrong_content_type_and_oversize_body(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool
) -> None:
    before = await _counts(pg_pool)
    text = await coach_client.post("/v1/coach/chat", content=b"hi", headers=runner.headers)
    assert text.status_code == 415
    huge = await coach_client.post(
        "/v1/coach/chat", json={"message": "x" * 200_000}, headers=runner.headers
    )
    assert huge.status_code == 413
    assert await _counts(pg_pool) == before


def _token(key: Any, algorithm: str = "EdDSA", **claims: Any) -> str:
    base = access_claims("pacer-core-api", "pacer", str(uuid.uuid4()), iat=1, exp=4_000_000_000)
    return sign(key, {**base, **claims}, algorithm)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic abc",
        "Bearer",
        "Bearer not-a-token",
        f"Bearer {_token(Ed25519PrivateKey.generate())}",
        "Bearer " + _token(Ed25519PrivateKey.generate(), exp=10),
    ],
    ids=["missing", "basic", "empty", "garbage", "forged", "expired-and-forged"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/coach/chat"),
        ("GET", "/v1/coach/conversations"),
        ("GET", f"/v1/coach/conversations/{uuid.uuid4()}"),
    ],
)
async def test_tokens_are_verified_by_the_coach_itself(
    coach_client: httpx.AsyncClient,
    pg_pool: asyncpg.Pool,
    authorization: str | None,
    method: str,
    path: str,
) -> None:
    before = await _counts(pg_pool)
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await coach_client.request(method, path, json={"message": "hi"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] in {"unauthorized", "invalid_token", "token_expired"}
    assert await _counts(pg_pool) == before


async def test_an_expired_token_says_so(
    coach_client: httpx.AsyncClient, jwt_key_files: tuple[Any, Any]
) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(jwt_key_files[0].read_bytes(), password=None)
    expired = _token(key, iat=1, exp=100)
    response = await coach_client.get(
        "/v1/coach/conversations", headers={"Authorization": f"Bearer {expired}"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


async def test_someone_elses_conversation_is_not_found(
    coach_client: httpx.AsyncClient, runner: Athlete, core_api: Any, sim: Any, pg_pool: asyncpg.Pool
) -> None:
    from fixtures.coach import chat
    from fixtures.core_api import register_and_login

    mine = await chat(coach_client, runner)
    conversation_id = mine.events[0].data["conversation_id"]
    async with httpx.AsyncClient(base_url=core_api.base_url) as http:
        other = await register_and_login(http)
    peek = await coach_client.get(
        f"/v1/coach/conversations/{conversation_id}", headers=other.headers
    )
    assert peek.status_code == 404
    before = await _counts(pg_pool)
    hijack = await coach_client.post(
        "/v1/coach/chat",
        json={"message": "hi", "conversation_id": conversation_id},
        headers=other.headers,
    )
    assert hijack.status_code == 404
    assert await _counts(pg_pool) == before
    listed = await coach_client.get("/v1/coach/conversations", headers=other.headers)
    assert listed.json() == {"items": [], "next_before": None}
    bad_id = await coach_client.get("/v1/coach/conversations/not-a-uuid", headers=runner.headers)
    assert bad_id.status_code == 422
    bad_query = await coach_client.get("/v1/coach/conversations?limit=0", headers=runner.headers)
    assert bad_query.status_code == 422


# --- dates and numbers out of the driver's range ----------------------------------------------


@pytest.mark.parametrize(
    "before",
    [
        # In range as written, out of range once converted to UTC (year 10000, year 0).
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59.999999-00:01",
    ],
)
async def test_a_before_outside_the_utc_range_is_422(
    coach_client: httpx.AsyncClient, runner: Athlete, before: str
) -> None:
    response = await coach_client.get(
        "/v1/coach/conversations", params={"before": before}, headers=runner.headers
    )
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == "before"


@pytest.mark.parametrize(
    "before",
    ["9999-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00+00:00", "2026-11-23T10:00:00+14:00"],
)
async def test_the_edges_of_the_range_still_work(
    coach_client: httpx.AsyncClient, runner: Athlete, before: str
) -> None:
    response = await coach_client.get(
        "/v1/coach/conversations", params={"before": before}, headers=runner.headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_before": None}


SweepCase = tuple[str, str, str, dict[str, Any] | None, int]


def _get(label: str, path: str, status: int = 422) -> SweepCase:
    return label, "GET", path, None, status


def _chat(label: str, body: dict[str, Any], status: int = 422) -> SweepCase:
    return label, "POST", "/v1/coach/chat", body, status


# Every coach route with the classes of bad input the probe used: out-of-range dates and
# numbers, ids that are not ids, invisible text. Each must be a 4xx in the error shape.
SWEEP: list[SweepCase] = [
    _get("before year 10000", "/v1/coach/conversations?before=9999-12-31T23:59:59-23:59"),
    _get("before year 0", "/v1/coach/conversations?before=0001-01-01T00:00:00%2B23:59"),
    _get("before naive", "/v1/coach/conversations?before=2026-11-23T10:00:00"),
    _get("before empty", "/v1/coach/conversations?before="),
    _get("before garbage", "/v1/coach/conversations?before=yesterday"),
    _get("before offset 24h", "/v1/coach/conversations?before=2026-01-01T00:00:00%2B24:00"),
    _get("limit zero", "/v1/coach/conversations?limit=0"),
    _get("limit negative", "/v1/coach/conversations?limit=-1"),
    _get("limit too big", "/v1/coach/conversations?limit=101"),
    _get("limit huge", "/v1/coach/conversations?limit=99999999999999999999999"),
    _get("limit float", "/v1/coach/conversations?limit=1e2"),
    _get("limit text", "/v1/coach/conversations?limit=ten"),
    _get("unknown query key", "/v1/coach/conversations?offset=3"),
    _get("id not a uuid", "/v1/coach/conversations/42"),
    _get("id with NUL", "/v1/coach/conversations/%00"),
    _get("id nil uuid", f"/v1/coach/conversations/{uuid.UUID(int=0)}", 404),
    _get("id max uuid", f"/v1/coach/conversations/{uuid.UUID(int=2**128 - 1)}", 404),
    _chat("chat id nil uuid", {"message": "hi", "conversation_id": str(uuid.UUID(int=0))}, 404),
    _chat("chat id number", {"message": "hi", "conversation_id": 42}),
    _chat("chat id huge text", {"message": "hi", "conversation_id": "9" * 5000}),
    _chat("chat zero-width space", {"message": "\u200b"}),
    _chat("chat message a number", {"message": 1e308}),
    _chat("chat message null", {"message": None}),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"), [s[1:] for s in SWEEP], ids=[s[0] for s in SWEEP]
)
async def test_every_route_refuses_bad_input_with_a_4xx(
    coach_client: httpx.AsyncClient,
    runner: Athlete,
    pg_pool: asyncpg.Pool,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
) -> None:
    before = await _counts(pg_pool, with_usage=False)
    response = await coach_client.request(method, path, json=body, headers=runner.headers)
    assert_error(response, status)
    assert await _counts(pg_pool, with_usage=False) == before


# --- a token that outlives its account ------------------------------------------------------


@pytest.mark.parametrize("with_conversation", [False, True], ids=["new", "existing"])
async def test_a_deleted_users_chat_is_401_and_writes_nothing(
    coach_client: httpx.AsyncClient,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    with_conversation: bool,
) -> None:
    body: dict[str, Any] = {}
    if with_conversation:
        first = await chat(coach_client, runner)
        body["conversation_id"] = first.events[0].data["conversation_id"]
    await pg_pool.execute("DELETE FROM users WHERE id = $1", uuid.UUID(runner.id))
    before = await _counts(pg_pool, with_usage=False)
    response = await coach_client.post(
        "/v1/coach/chat", json={"message": "hi", **body}, headers=runner.headers
    )
    assert_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await _counts(pg_pool, with_usage=False) == before
    assert await pg_pool.fetchval("SELECT count(*) FROM llm_usage") == (
        1 if with_conversation else 0
    )


async def test_a_deleted_users_reads_are_401(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    first = await chat(coach_client, runner)
    conversation_id = first.events[0].data["conversation_id"]
    await pg_pool.execute("DELETE FROM users WHERE id = $1", uuid.UUID(runner.id))
    for path in ["/v1/coach/conversations", f"/v1/coach/conversations/{conversation_id}"]:
        response = await coach_client.get(path, headers=runner.headers)
        assert_error(response, 401, "invalid_token")
        assert response.headers["WWW-Authenticate"] == "Bearer"


# --- invisible messages -----------------------------------------------------------------------

INVISIBLE = {
    "zero-width space": "\u200b",
    "zero-width joiners and BOM": "\u200c\u200d\ufeff\u2060",
    "bidi controls": "\u200e\u200f\u202a\u202e\u2066\u2069",
    "soft hyphen and word joiner": "\u00ad\u2060",
    "no-break and ideographic spaces": "\u00a0\u3000\u2007 \t\n",
    "hangul fillers": "\u3164\u115f\u1160\uffa0",
    "braille blank": "\u2800",
    "lone combining marks": "\u0301\u20dd",
    "variation selectors": "\ufe0f\U000e0100",
    "tag characters": "\U000e0041\U000e007f",
    "line and paragraph separators": "\u2028\u2029",
    "mixed": " \u200b\u00a0\u2060\u3164 ",
}


@pytest.mark.parametrize("message", list(INVISIBLE.values()), ids=list(INVISIBLE))
async def test_a_message_with_no_visible_character_is_422_before_quota(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool, message: str
) -> None:
    before = await _counts(pg_pool, with_usage=False)
    response = await coach_client.post(
        "/v1/coach/chat", json={"message": message}, headers=runner.headers
    )
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == "message"
    assert await _counts(pg_pool, with_usage=False) == before


@pytest.mark.parametrize(
    "message", ["\u200bhi", "👍", "\u0915\u094d\u0937", "e\u0301", "٣", "?", "\u00a0ok\u200d"]
)
async def test_a_message_with_a_visible_character_is_accepted(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, message: str
) -> None:
    result = await chat(coach_client, runner, message)
    assert result.status_code == 200, result.body
    assert result.events[-1].data["status"] == "complete"


# ---- Coaching sessions ----

SESSION_TOPICS = pytest.mark.usefixtures("session_topics")


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


@SESSION_TOPICS
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


@SESSION_TOPICS
async def test_an_unknown_topic_names_the_topics_there_are(
    coach_client: httpx.AsyncClient, runner: Athlete
) -> None:
    response = await coach_client.post(
        "/v1/coach/sessions", json={"topic": "marathon_magic"}, headers=runner.headers
    )
    assert_error(response, 422, "unknown_topic")
    assert "onboarding, race_debrief" in response.json()["error"]["message"]
    assert response.json()["error"]["details"][0]["field"] == "topic"


@SESSION_TOPICS
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


@SESSION_TOPICS
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


@SESSION_TOPICS
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


@SESSION_TOPICS
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


@SESSION_TOPICS
async def test_a_malformed_idempotency_key_on_a_session_message_is_400(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool
) -> None:
    session = await create_session(coach_client, runner)
    result = await say(coach_client, runner, session["id"], key="k" * 256)
    assert result.status_code == 400 and result.body is not None
    assert result.body["error"]["code"] == "invalid_idempotency_key"


@SESSION_TOPICS
async def test_one_key_for_two_sessions_is_a_reuse(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim
) -> None:
    first = await create_session(coach_client, runner)
    second = await create_session(coach_client, runner)
    assert (await say(coach_client, runner, first["id"], "hi", key="same")).status_code == 200
    reused = await say(coach_client, runner, second["id"], "hi", key="same")
    assert reused.status_code == 422 and reused.body is not None
    assert reused.body["error"]["code"] == "idempotency_key_reused"


@SESSION_TOPICS
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


@SESSION_TOPICS
@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "101"}, {"before": "yesterday"}])
async def test_a_bad_list_query_is_422(
    coach_client: httpx.AsyncClient, runner: Athlete, params: dict[str, str]
) -> None:
    response = await coach_client.get("/v1/coach/sessions", params=params, headers=runner.headers)
    assert_error(response, 422, "validation_error")


@SESSION_TOPICS
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
