"""Postgres down under a running coach: chats are a quick 503 in the error shape, never a 500
or a stream that breaks, and they work again when Postgres is back, with no restart.

Postgres is reached through a TCP relay that the test cuts: every connection is
reset and new ones are refused, as when Postgres is stopped, while the session's
Postgres stays up for the other tests.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import redis.asyncio as redis

from fixtures.coach import StartCoach, chat, coach_with_relayed_postgres, cut_once_streaming
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from pacer_common.reply_log import settle_dead_producers


async def test_postgres_down_makes_a_chat_503_then_it_recovers(
    start_coach: StartCoach,
    migrated_postgres: str,
    runner: Athlete,
    sim: LLMSim,
) -> None:
    async with coach_with_relayed_postgres(start_coach, migrated_postgres) as (relay, http):
        assert (await chat(http, runner)).status_code == 200
        await relay.cut()
        for _ in range(3):  # idle pooled connections, then new ones refused
            down = await chat(http, runner)
            assert down.status_code == 503, down.body
            assert down.body is not None
            assert down.body["error"]["code"] == "unavailable"
            assert down.body["error"]["message"]
            assert int(down.headers["Retry-After"]) > 0
        await relay.restore()
        back = await chat(http, runner)
    assert back.status_code == 200
    assert back.events[-1].data["status"] == "complete"


async def test_a_postgres_blip_as_the_reply_ends_still_stores_it(
    start_coach: StartCoach,
    migrated_postgres: str,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
) -> None:
    # Postgres goes away while the reply streams and is back ~0.6 s later:
    # storing the reply is retried, so the text the client saw is not lost.
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=40, tokens=15)
    async with coach_with_relayed_postgres(start_coach, migrated_postgres) as (relay, http):
        blipping = asyncio.create_task(cut_once_streaming(sim, relay, restore_after_s=0.6))
        result = await chat(http, runner)
        await blipping
    assert result.status_code == 200
    assert result.events[-1].event == "done"
    message_id = uuid.UUID(result.of("meta")[0].data["message_id"])
    row = await pg_pool.fetchrow("SELECT content, status FROM messages WHERE id = $1", message_id)
    assert row is not None
    assert (row["content"], row["status"]) == (result.text, "complete")
    assert result.text


async def test_postgres_down_as_the_reply_ends_loses_nothing_the_log_is_settled_later(
    start_coach: StartCoach,
    migrated_postgres: str,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_url: str,
) -> None:
    # Down past the storage retries: the reply is only in its log (issue 11, point 4);
    # the reaper's pass stores it with its status and a usage row once Postgres is back.
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=40, tokens=15)
    async with coach_with_relayed_postgres(start_coach, migrated_postgres) as (relay, http):
        cutting = asyncio.create_task(cut_once_streaming(sim, relay))
        result = await chat(http, runner)
        await cutting
        # Back once the coach has stopped: a running coach stores the reply itself
        # (issue 19, point 8; test_reply_edges.py), this is the reaper's part.
        await relay.restore()
    assert result.events[-1].event == "done" and result.text
    message_id = uuid.UUID(result.of("meta")[0].data["message_id"])
    row = await pg_pool.fetchrow("SELECT status FROM messages WHERE id = $1", message_id)
    assert row is not None and row["status"] == "streaming"
    raw = redis.Redis.from_url(redis_url)
    try:
        async with pg_pool.acquire() as conn:
            assert await settle_dead_producers(conn, raw, older_than_s=0) == 1
    finally:
        await raw.aclose()
    row = await pg_pool.fetchrow("SELECT content, status FROM messages WHERE id = $1", message_id)
    assert row is not None
    assert (row["content"], row["status"]) == (result.text, "complete")
    usage = await pg_pool.fetchrow("SELECT outcome, output_tokens FROM llm_usage")
    assert usage is not None and usage["outcome"] == "recovered" and usage["output_tokens"] == 15
