"""The reply log (issue 11): resume after a drop, from any coach, a dead producer, cancel, coalescing.

Real Redis, Postgres, the simulator; in-loop coaches for most, real coach
processes (``python -m pacer_coach``) where one is SIGKILLed.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import Any

import asyncpg
import httpx
import redis.asyncio as redis

from fixtures.coach import StartCoach
from fixtures.coach_process import CoachProcessEnv, running_coach
from fixtures.core_api import Athlete
from fixtures.errors import assert_error
from fixtures.llm_sim import LLMSim
from fixtures.replies import Event, parse, post_until, resume, text_of
from fixtures.waiting import poll, stored
from pacer_common import redis_names
from pacer_common.reply_log import settle_dead_producers


async def test_drop_after_n_deltas_and_resume_gives_the_text_exactly_once(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=15, tokens=120)
    before = await post_until(coach_client, runner, deltas=3)
    assert all(e.id for e in before), "every event carries its log entry's id"
    assert before[0].retry is not None and all(e.retry is None for e in before[1:])
    message_id = before[0].data["message_id"]
    status, after, _ = await resume(coach_client, runner, message_id, before[-1].id)
    assert status == 200
    assert [e.event for e in after].count("done") == 1 and after[-1].event == "done"
    assert after[-1].data["status"] == "complete"
    row = await stored(pg_pool, message_id)
    assert row["status"] == "complete"
    assert text_of(before) + text_of(after) == row["content"]
    # Without Last-Event-ID: the whole reply from the start, meta first.
    status, whole, _ = await resume(coach_client, runner, message_id, None)
    assert status == 200
    assert whole[0].event == "meta" and whole[-1].event == "done"
    assert text_of(whole) == row["content"]


async def test_a_fast_200_token_reply_is_coalesced_into_far_fewer_events(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, redis_client: redis.Redis
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=1, tokens=200)
    raw = ""
    async with coach_client.stream(
        "POST", "/v1/coach/chat", json={"message": "Tell me all"}, headers=runner.headers
    ) as response:
        raw = (await response.aread()).decode()
    events = parse(raw)
    deltas = [e for e in events if e.event == "delta"]
    done = events[-1]
    assert done.event == "done" and done.data["usage"]["output_tokens"] == 200
    assert 1 <= len(deltas) <= 200 // 5, f"{len(deltas)} delta events for 200 tokens"
    entries = await redis_client.xlen(redis_names.reply_log_key(events[0].data["message_id"]))
    assert entries == len(events), "one log entry per SSE event"
    ttl = await redis_client.ttl(redis_names.reply_log_key(events[0].data["message_id"]))
    assert 0 < ttl <= redis_names.DEFAULT_REPLY_LOG_TTL_SECONDS


async def test_a_slow_reply_sends_its_first_token_at_once_then_several_an_event(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim
) -> None:
    # 20 tokens/s: a 40 ms window would carry one token an event; the window grows
    # (chat/coalesce.py) but the first token never waits for it.
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=50, tokens=40)
    async with coach_client.stream(
        "POST", "/v1/coach/chat", json={"message": "Slowly"}, headers=runner.headers
    ) as response:
        raw = (await response.aread()).decode()
    deltas = [e for e in parse(raw) if e.event == "delta"]
    assert deltas[0].data["text"].count(" ") == 1, "the first token went alone"
    later = deltas[1:]
    tokens = sum(e.data["text"].count(" ") for e in later)
    assert tokens == 39 and tokens / len(later) >= 2, f"{len(later)} events for {tokens} tokens"


async def test_start_on_one_coach_and_resume_on_another(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=15, tokens=120)
    async with start_coach() as one, start_coach() as two:
        async with (
            httpx.AsyncClient(base_url=one.base_url, timeout=30) as first,
            httpx.AsyncClient(base_url=two.base_url, timeout=30) as second,
        ):
            before = await post_until(first, runner, deltas=2)
            message_id = before[0].data["message_id"]
            status, after, _ = await resume(second, runner, message_id, before[-1].id)
    assert status == 200 and after[-1].event == "done"
    assert [e.event for e in after].count("done") == 1
    row = await stored(pg_pool, message_id)
    assert text_of(before) + text_of(after) == row["content"]


async def test_cancel_stops_the_upstream_and_stores_the_partial_reply(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=200, tokens=200)
    before = await post_until(coach_client, runner, deltas=1)
    message_id = before[0].data["message_id"]
    cancelled = await coach_client.post(
        f"/v1/coach/messages/{message_id}/cancel", headers=runner.headers
    )
    assert cancelled.status_code == 202, cancelled.text
    # The reply would take 40 s: the upstream request must end now.
    await sim.wait_for_stats(
        lambda stats: stats["disconnected"] >= 1 and stats["active"] == 0, timeout_s=5
    )
    status, after, _ = await resume(coach_client, runner, message_id, before[-1].id)
    assert status == 200
    assert [e.event for e in after][-2:] == ["error", "done"]
    assert after[-2].data["code"] == "cancelled"
    row = await stored(pg_pool, message_id)
    assert (row["status"], row["error_code"]) == ("partial", "cancelled")
    assert text_of(before) + text_of(after) == row["content"]
    usage = await pg_pool.fetchval("SELECT outcome FROM llm_usage ORDER BY id DESC LIMIT 1")
    assert usage == "cancelled"
    again = await coach_client.post(
        f"/v1/coach/messages/{message_id}/cancel", headers=runner.headers
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "reply_finished"


async def test_bad_ids_are_4xx_and_a_foreign_reply_is_404(
    coach_client: httpx.AsyncClient, runner: Athlete, other_runner: Athlete, sim: LLMSim
) -> None:
    before = await post_until(coach_client, runner, deltas=1)
    message_id = before[0].data["message_id"]
    for bad in ("abc", "1-", "-1", "1-2-3", "0x1-0", "1" * 30 + "-0", "$", ">"):
        status, _, body = await resume(coach_client, runner, message_id, bad)
        assert status == 400, bad
        assert body["error"]["code"] == "invalid_last_event_id"
    for who, target in ((other_runner, message_id), (runner, str(uuid.uuid4()))):
        status, _, body = await resume(coach_client, who, target, None)
        assert status == 404 and body["error"]["code"] == "not_found"
        cancel = await coach_client.post(f"/v1/coach/messages/{target}/cancel", headers=who.headers)
        assert cancel.status_code == 404


async def test_an_expired_log_is_served_from_postgres_as_one_replacing_event(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, redis_client: redis.Redis
) -> None:
    before = await post_until(coach_client, runner, deltas=1)
    message_id = before[0].data["message_id"]
    status, whole, _ = await resume(coach_client, runner, message_id, None)
    assert status == 200 and whole[-1].event == "done"
    await redis_client.delete(redis_names.reply_log_key(message_id))
    status, served, _ = await resume(coach_client, runner, message_id, before[-1].id)
    assert status == 200
    assert [e.event for e in served] == ["delta", "done"]
    assert served[0].data == {"text": text_of(whole), "replace": True}
    assert served[1].data["status"] == "complete"


async def _killed_mid_reply(
    coach_process_env: CoachProcessEnv, sim: LLMSim, runner: Athlete
) -> list[Event]:
    """A real coach process SIGKILLed after the client saw two deltas: what the client saw."""
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=50, tokens=1000)
    env = coach_process_env()
    async with running_coach(env) as (process, http):
        before = await post_until(http, runner, deltas=2)
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), timeout=5)
    return before


async def test_a_killed_coach_is_resumed_on_a_new_one_with_the_text_seen_then_interrupted(
    coach_process_env: CoachProcessEnv,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
) -> None:
    before = await _killed_mid_reply(coach_process_env, sim, runner)
    message_id = before[0].data["message_id"]
    env = coach_process_env()
    async with running_coach(env, stop="terminate") as (_, http):
        started = asyncio.get_running_loop().time()
        status, after, _ = await resume(http, runner, message_id, before[-1].id)
        took = asyncio.get_running_loop().time() - started
    assert status == 200
    assert [e.event for e in after][-2:] == ["error", "done"]
    assert after[-2].data["code"] == "interrupted"
    assert [e.event for e in after].count("done") == 1
    assert took < 8, "ended within a few seconds of the heartbeat's expiry"
    row = await stored(pg_pool, message_id, timeout_s=1)
    assert (row["status"], row["error_code"]) == ("partial", "interrupted")
    # Deltas the client had not read yet when the coach died may follow in the resume.
    assert row["content"] == text_of(before) + text_of(after)
    usage = await pg_pool.fetchrow(
        "SELECT outcome, output_tokens FROM llm_usage ORDER BY id DESC LIMIT 1"
    )
    assert usage is not None and usage["outcome"] == "interrupted" and usage["output_tokens"] > 0


async def test_the_reaper_settles_a_killed_coachs_reply_from_its_log(
    coach_process_env: CoachProcessEnv,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_url: str,
    redis_client: redis.Redis,
) -> None:
    before = await _killed_mid_reply(coach_process_env, sim, runner)
    message_id = before[0].data["message_id"]
    heartbeat = redis_names.reply_heartbeat_key(message_id)

    async def heartbeat_gone() -> bool:
        return not await redis_client.exists(heartbeat)

    await poll(
        heartbeat_gone, timeout_s=10, interval_s=0.1, what="the killed reply's heartbeat to lapse"
    )
    # The worker's reaper uses an arq (bytes) client: the same kind here.
    raw = redis.Redis.from_url(redis_url)
    try:
        async with pg_pool.acquire() as conn:
            assert await settle_dead_producers(conn, raw, older_than_s=0) == 1
            assert await settle_dead_producers(conn, raw, older_than_s=0) == 0
    finally:
        await raw.aclose()
    row = await stored(pg_pool, message_id, timeout_s=1)
    assert (row["status"], row["error_code"]) == ("partial", "interrupted")
    assert row["content"].startswith(text_of(before)) and text_of(before)
    assert await pg_pool.fetchval("SELECT count(*) FROM llm_usage") == 1


async def test_redis_down_when_a_chat_starts_is_a_503_and_spends_nothing(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    # No log, no resume and no cancel: refused, rather than a reply nobody could get back.
    async with start_coach(REDIS_URL="redis://127.0.0.1:1/0") as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
            response = await http.post(
                "/v1/coach/chat", json={"message": "Hello?"}, headers=runner.headers
            )
    assert_error(response, 503, "unavailable", retry_after=True)
    assert await pg_pool.fetchval("SELECT coalesce(sum(used), 0) FROM chat_quota") == 0
    row = await pg_pool.fetchrow("SELECT status, error_code FROM messages WHERE role = 'assistant'")
    assert row is not None and (row["status"], row["error_code"]) == ("failed", "unavailable")
    assert (await sim.stats())["requests"] == 0


async def test_a_cancel_on_the_producers_process_closes_the_upstream_at_once(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    # The Redis cancel flag is read with the heartbeat, about once a second; a
    # cancel that lands on the process producing the reply must not wait for it.
    # Three rounds, so a flag read that happens to fall soon after cannot pass it.
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=200, tokens=200)
    loop = asyncio.get_running_loop()
    for round_ in range(3):
        before = await post_until(coach_client, runner, deltas=1)
        message_id = before[0].data["message_id"]
        started = loop.time()
        cancelled = await coach_client.post(
            f"/v1/coach/messages/{message_id}/cancel", headers=runner.headers
        )
        assert cancelled.status_code == 202, cancelled.text
        ended = round_ + 1

        def upstream_closed(stats: dict[str, Any], ended: int = ended) -> bool:
            return bool(stats["disconnected"] >= ended and stats["active"] == 0)

        await sim.wait_for_stats(upstream_closed, timeout_s=5)
        assert loop.time() - started < 0.4, f"round {round_}: the upstream outlived the cancel"
        row = await stored(pg_pool, message_id)
        assert (row["status"], row["error_code"]) == ("partial", "cancelled")
