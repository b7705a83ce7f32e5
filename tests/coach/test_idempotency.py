"""Idempotency-Key on POST /v1/coach/chat (issue 11, point 5).

Real Postgres, Redis and the simulator: a retry with the same key and body
attaches to the first request's reply (same message_id, the whole text once,
one ``done``) with one LLM call and one quota unit in all; another body is
422; a malformed key is 400; keys are per user and last 24 hours.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from fixtures.coach import ChatResult, StartCoach, parse_sse, read_result
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from pacer_common import redis_names


async def post(
    http: httpx.AsyncClient,
    athlete: Athlete,
    key: str | bytes | None,
    message: str = "How should I train today?",
    **body: Any,
) -> ChatResult:
    headers: dict[str, Any] = dict(athlete.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    async with http.stream(
        "POST", "/v1/coach/chat", json={"message": message, **body}, headers=headers
    ) as response:
        return await read_result(response)


def message_id(result: ChatResult) -> str:
    assert result.status_code == 200, result.body
    meta = result.of("meta")
    assert len(meta) == 1, result.events
    return str(meta[0].data["message_id"])


def assert_one_whole_reply(result: ChatResult) -> None:
    assert [e.event for e in result.events].count("done") == 1, result.events
    assert result.events[-1].event == "done"
    assert result.events[-1].data["status"] == "complete"
    assert result.text


async def quota_used(pool: asyncpg.Pool, athlete: Athlete) -> int:
    used = await pool.fetchval(
        "SELECT coalesce(sum(used), 0) FROM chat_quota WHERE user_id = $1", uuid.UUID(athlete.id)
    )
    return int(used)


async def assistant_rows(pool: asyncpg.Pool, athlete: Athlete) -> int:
    count = await pool.fetchval(
        """SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
           WHERE c.user_id = $1 AND m.role = 'assistant'""",
        uuid.UUID(athlete.id),
    )
    return int(count)


async def test_the_same_key_twice_in_a_row_is_one_reply_one_call_one_unit(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    first = await post(coach_client, runner, "retry-1")
    second = await post(coach_client, runner, "retry-1")
    assert message_id(first) == message_id(second)
    assert_one_whole_reply(first)
    assert_one_whole_reply(second)
    assert second.text == first.text
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert (await sim.stats())["requests"] == 1
    assert await quota_used(pg_pool, runner) == 1
    assert await assistant_rows(pg_pool, runner) == 1
    # The replay reports the quota as it stands, unspent.
    assert second.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"]


async def test_the_same_key_twice_at_once_is_one_reply(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=5, tokens=40)
    results = await asyncio.gather(*(post(coach_client, runner, "together") for _ in range(3)))
    ids = {message_id(result) for result in results}
    assert len(ids) == 1
    for result in results:
        assert_one_whole_reply(result)
        assert result.text == results[0].text
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in results) == 2
    assert (await sim.stats())["requests"] == 1
    assert await quota_used(pg_pool, runner) == 1
    assert await assistant_rows(pg_pool, runner) == 1


async def test_a_retry_while_the_first_still_streams_attaches_from_the_start(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=20, tokens=60)
    headers = {**runner.headers, "Idempotency-Key": "mid-stream"}
    raw = ""
    async with coach_client.stream(
        "POST", "/v1/coach/chat", json={"message": "Long answer, please"}, headers=headers
    ) as response:
        assert response.status_code == 200
        chunks = response.aiter_text()
        async for chunk in chunks:
            raw += chunk
            if sum(e.event == "delta" for e in parse_sse(raw.rsplit("\n\n", 1)[0])[0]) >= 2:
                break
        first_id = next(e for e in parse_sse(raw)[0] if e.event == "meta").data["message_id"]
        row = await pg_pool.fetchrow(
            "SELECT status FROM messages WHERE id = $1", uuid.UUID(first_id)
        )
        assert row["status"] == "streaming", "the retry must come while the first streams"
        second = await post(coach_client, runner, "mid-stream", "Long answer, please")
        async for chunk in chunks:
            raw += chunk
    first_events, _ = parse_sse(raw)
    first_text = "".join(e.data["text"] for e in first_events if e.event == "delta")
    assert message_id(second) == first_id
    assert_one_whole_reply(second)
    assert second.text == first_text
    stored = await pg_pool.fetchval(
        "SELECT content FROM messages WHERE id = $1", uuid.UUID(first_id)
    )
    assert second.text == stored
    assert (await sim.stats())["requests"] == 1
    assert await quota_used(pg_pool, runner) == 1


async def test_a_retry_after_the_log_expired_is_served_from_postgres(
    coach_client: httpx.AsyncClient,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
) -> None:
    first = await post(coach_client, runner, "old-log")
    await redis_client.delete(redis_names.reply_log_key(message_id(first)))
    second = await post(coach_client, runner, "old-log")
    assert second.status_code == 200
    deltas = second.of("delta")
    assert len(deltas) == 1 and deltas[0].data["replace"] is True
    assert deltas[0].data["text"] == first.text
    assert [e.event for e in second.events].count("done") == 1
    assert second.events[-1].data["status"] == "complete"
    assert (await sim.stats())["requests"] == 1
    assert await quota_used(pg_pool, runner) == 1


async def test_the_same_key_with_another_body_is_422_and_spends_nothing(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    first = await post(coach_client, runner, "one-body", "First question")
    assert_one_whole_reply(first)
    other = await post(coach_client, runner, "one-body", "Another question")
    assert other.status_code == 422
    assert other.body is not None and other.body["error"]["code"] == "idempotency_key_reused"
    conversation = await post(
        coach_client,
        runner,
        "one-body",
        "First question",
        conversation_id=first.of("meta")[0].data["conversation_id"],
    )
    assert conversation.status_code == 422
    assert (await sim.stats())["requests"] == 1
    assert await quota_used(pg_pool, runner) == 1


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "", '"   "', '""', "tab\there", b"caf\xe9"],
    ids=["256-chars", "empty", "blank", "empty-quoted", "control-char", "non-ascii"],
)
async def test_a_malformed_key_is_400_and_spends_nothing(
    coach_client: httpx.AsyncClient,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    key: str | bytes,
) -> None:
    result = await post(coach_client, runner, key)
    assert result.status_code == 400, result.events
    assert result.body is not None and result.body["error"]["code"] == "invalid_idempotency_key"
    assert (await sim.stats())["requests"] == 0
    assert await quota_used(pg_pool, runner) == 0


async def test_a_255_char_key_and_a_quoted_key_are_accepted(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim
) -> None:
    longest = await post(coach_client, runner, "k" * 255)
    assert_one_whole_reply(longest)
    quoted = await post(coach_client, runner, '"quoted-key"')
    bare = await post(coach_client, runner, "quoted-key")
    # The structured-field form and the bare token name the same key.
    assert message_id(bare) == message_id(quoted)
    assert (await sim.stats())["requests"] == 2


async def test_the_key_twice_in_one_request_is_400(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim
) -> None:
    response = await coach_client.post(
        "/v1/coach/chat",
        json={"message": "Hi"},
        headers=[
            ("Authorization", runner.headers["Authorization"]),
            ("Idempotency-Key", "a"),
            ("Idempotency-Key", "b"),
        ],
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert (await sim.stats())["requests"] == 0


async def test_another_users_same_key_is_their_own(
    coach_client: httpx.AsyncClient,
    runner: Athlete,
    other_runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
) -> None:
    mine = await post(coach_client, runner, "shared-key")
    theirs = await post(coach_client, other_runner, "shared-key")
    assert_one_whole_reply(mine)
    assert_one_whole_reply(theirs)
    assert message_id(mine) != message_id(theirs)
    assert "idempotent-replayed" not in theirs.headers
    assert (await sim.stats())["requests"] == 2
    assert await quota_used(pg_pool, runner) == 1
    assert await quota_used(pg_pool, other_runner) == 1


async def test_a_key_older_than_24_hours_starts_a_new_reply(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    first = await post(coach_client, runner, "yesterday")
    await post(coach_client, runner, "stale-other")
    await pg_pool.execute(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE user_id = $1",
        uuid.UUID(runner.id),
    )
    again = await post(coach_client, runner, "yesterday", "A new question today")
    assert again.status_code == 200, again.body
    assert message_id(again) != message_id(first)
    assert "idempotent-replayed" not in again.headers
    assert (await sim.stats())["requests"] == 3
    assert await quota_used(pg_pool, runner) == 3
    # The claim swept the user's other expired key.
    keys = await pg_pool.fetch(
        "SELECT key FROM idempotency_keys WHERE user_id = $1", uuid.UUID(runner.id)
    )
    assert [row["key"] for row in keys] == ["yesterday"]


async def test_a_retry_at_the_quota_limit_still_attaches(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    async with (
        start_coach(RATE_LIMIT_FREE=1) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
    ):
        first = await post(http, runner, "last-one")
        assert_one_whole_reply(first)
        retry = await post(http, runner, "last-one")
        assert retry.status_code == 200, retry.body
        assert message_id(retry) == message_id(first)
        assert retry.headers["x-ratelimit-remaining"] == "0"
        fresh = await post(http, runner, "a-new-key")
        assert fresh.status_code == 429
    assert (await sim.stats())["requests"] == 1
    assert await quota_used(pg_pool, runner) == 1
