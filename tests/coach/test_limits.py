"""Monthly quotas, the connection cap, the per-user stream cap and the graceful drain on
shutdown."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from fixtures.coach import StartCoach, chat
from fixtures.core_api import Athlete, CoreApi
from fixtures.llm_sim import LLMSim


async def test_over_quota_gets_429_before_any_stream(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    async with start_coach(RATE_LIMIT_FREE=2) as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
            first = await chat(http, runner)
            assert first.headers["X-RateLimit-Remaining"] == "1"
            second = await chat(http, runner)
            assert second.headers["X-RateLimit-Remaining"] == "0"
            third = await chat(http, runner)
    assert third.status_code == 429
    assert third.body is not None
    error = third.body["error"]
    assert error["code"] == "quota_exceeded"
    assert error["limit"] == 2 and error["used"] == 2
    assert error["resets_at"].endswith("+00:00")
    assert int(third.headers["Retry-After"]) > 0
    # Nothing of the refused request was stored.
    assert await pg_pool.fetchval("SELECT count(*) FROM messages") == 4


async def test_concurrent_chats_cannot_overshoot_the_quota(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, clean_state: None
) -> None:
    # Room for all ten streams of the one user: the quota, not the stream cap, refuses.
    async with start_coach(RATE_LIMIT_FREE=3, SSE_MAX_STREAMS_PER_USER=10) as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
            results = await asyncio.gather(*(chat(http, runner) for _ in range(10)))
    assert sorted(result.status_code for result in results) == [200] * 3 + [429] * 7


async def test_paid_tier_has_its_own_limit(
    start_coach: StartCoach,
    core_api: CoreApi,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    clean_state: None,
) -> None:
    await pg_pool.execute("UPDATE users SET tier = 'paid' WHERE email = $1", runner.email)
    async with httpx.AsyncClient(base_url=core_api.base_url) as http:
        tokens = (
            await http.post("/v1/auth/refresh", json={"refresh_token": runner.refresh_token})
        ).json()
    paid = Athlete(runner.id, runner.email, tokens["access_token"], tokens["refresh_token"])
    async with start_coach(RATE_LIMIT_FREE=0, RATE_LIMIT_PAID=5) as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
            result = await chat(http, paid)
    assert result.status_code == 200
    assert result.headers["X-RateLimit-Limit"] == "5"


async def test_a_failed_reply_gives_the_message_back(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await sim.set_mode(mode="error", status=500)
    result = await chat(coach_client, runner)
    assert result.events[-1].data["status"] == "failed"
    assert await pg_pool.fetchval("SELECT used FROM chat_quota") == 0


async def test_the_connection_cap_refuses_with_503_before_any_stream(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, clean_state: None
) -> None:
    await sim.set_mode(mode="hang")
    async with start_coach(
        SSE_MAX_CONNECTIONS=2, SSE_WARN_CONNECTIONS=1, LLM_FIRST_TOKEN_TIMEOUT_SECONDS=20
    ) as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
            held = [asyncio.create_task(chat(http, runner)) for _ in range(2)]
            await sim.wait_for_stats(lambda stats: stats["active"] >= 2)
            refused = await chat(http, runner)
            assert refused.status_code == 503
            assert refused.body is not None and refused.body["error"]["code"] == "at_capacity"
            assert int(refused.headers["Retry-After"]) > 0
            coach.stop.set()  # the drain ends the held streams
            ended = await asyncio.gather(*held)
    assert all(result.events[-1].event == "done" for result in ended)


async def test_shutdown_drains_every_open_stream(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=100, tokens=1000)
    async with start_coach(LLM_IDLE_TIMEOUT_SECONDS=20, COACH_STREAM_TIMEOUT_SECONDS=120) as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
            streams = [asyncio.create_task(chat(http, runner)) for _ in range(3)]
            await sim.wait_for_stats(lambda stats: stats["active"] >= 3)
            started = asyncio.get_running_loop().time()
            coach.stop.set()  # as SIGTERM does
            results = await asyncio.gather(*streams)
            await asyncio.wait_for(coach.server, timeout=5)
            took = asyncio.get_running_loop().time() - started
    assert took < 5
    for result in results:
        assert [event.event for event in result.events[-2:]] == ["error", "done"]
        error = result.of("error")[0].data
        assert error["code"] == "shutdown" and error["retryable"] is True
    statuses = await pg_pool.fetch(
        "SELECT status, error_code FROM messages WHERE role = 'assistant'"
    )
    assert {(row["status"], row["error_code"]) for row in statuses} <= {
        ("partial", "shutdown"),
        ("failed", "shutdown"),
    }
    assert len(statuses) == 3
    await sim.wait_for_stats(lambda stats: stats["active"] == 0)


async def _stored_and_spent(pool: asyncpg.Pool) -> tuple[int, int, int]:
    row = await pool.fetchrow(
        """SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages),
                  (SELECT coalesce(sum(used), 0) FROM chat_quota)"""
    )
    assert row is not None
    return row[0], row[1], row[2]


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
            before = await _stored_and_spent(pg_pool)
            refused = await chat(http, runner)
            assert refused.status_code == 429
            assert refused.body is not None
            assert refused.body["error"]["code"] == "too_many_streams"
            assert refused.body["error"]["message"]
            assert int(refused.headers["Retry-After"]) > 0
            # Nothing was stored and no quota was spent for the refused chat.
            assert await _stored_and_spent(pg_pool) == before
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
