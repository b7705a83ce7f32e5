"""Inputs found by an adversarial probe (issue 9): each is a 4xx in the error shape, never a 500,
and a refused chat spends no quota and stores nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from fixtures.coach import StartCoach, chat
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim


async def _counts(pool: asyncpg.Pool) -> tuple[int, int, int]:
    row = await pool.fetchrow(
        """SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages),
                  (SELECT coalesce(sum(used), 0) FROM chat_quota)"""
    )
    assert row is not None
    return row[0], row[1], row[2]


def _assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


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
    error = _assert_error(response, 422, "validation_error")
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
    assert response.json() == {"items": []}


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
    before = await _counts(pg_pool)
    response = await coach_client.request(method, path, json=body, headers=runner.headers)
    _assert_error(response, status)
    assert await _counts(pg_pool) == before


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
    before = await _counts(pg_pool)
    response = await coach_client.post(
        "/v1/coach/chat", json={"message": "hi", **body}, headers=runner.headers
    )
    _assert_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await _counts(pg_pool) == before
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
        _assert_error(response, 401, "invalid_token")
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
    before = await _counts(pg_pool)
    response = await coach_client.post(
        "/v1/coach/chat", json={"message": message}, headers=runner.headers
    )
    error = _assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == "message"
    assert await _counts(pg_pool) == before


@pytest.mark.parametrize(
    "message", ["\u200bhi", "👍", "\u0915\u094d\u0937", "e\u0301", "٣", "?", "\u00a0ok\u200d"]
)
async def test_a_message_with_a_visible_character_is_accepted(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, message: str
) -> None:
    result = await chat(coach_client, runner, message)
    assert result.status_code == 200, result.body
    assert result.events[-1].data["status"] == "complete"


# --- one user cannot take every stream slot -----------------------------------------------------


async def test_one_user_over_the_per_user_stream_cap_gets_429_before_any_stream(
    start_coach: StartCoach,
    runner: Athlete,
    other_runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
) -> None:
    await sim.set_mode(mode="hang")
    async with start_coach(SSE_MAX_STREAMS_PER_USER=2, LLM_FIRST_TOKEN_TIMEOUT_SECONDS=20) as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
            held = [asyncio.create_task(chat(http, runner)) for _ in range(2)]
            await sim.wait_for_stats(lambda stats: stats["active"] >= 2)
            before = await _counts(pg_pool)
            refused = await chat(http, runner)
            assert refused.status_code == 429
            assert refused.body is not None
            assert refused.body["error"]["code"] == "too_many_streams"
            assert refused.body["error"]["message"]
            assert int(refused.headers["Retry-After"]) > 0
            # Nothing was stored and no quota was spent for the refused chat.
            assert await _counts(pg_pool) == before
            # Someone else still gets a stream.
            others = asyncio.create_task(chat(http, other_runner))
            await sim.wait_for_stats(lambda stats: stats["active"] >= 3)
            coach.stop.set()  # the drain ends the held streams
            ended = await asyncio.gather(*held, others)
    assert [result.status_code for result in ended] == [200, 200, 200]
    assert all(result.events[-1].event == "done" for result in ended)


async def test_a_closed_stream_gives_its_slot_back(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, clean_state: None
) -> None:
    async with start_coach(SSE_MAX_STREAMS_PER_USER=1) as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
            results = [await chat(http, runner) for _ in range(3)]
            refused = await http.post(
                "/v1/coach/chat", json={"message": "\u200b"}, headers=runner.headers
            )
            after_refusal = await chat(http, runner)
    assert [result.status_code for result in results] == [200, 200, 200]
    assert refused.status_code == 422
    assert after_refusal.status_code == 200
