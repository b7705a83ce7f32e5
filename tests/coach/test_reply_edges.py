"""Issue 19, points 7 to 10: a reply killed before its first token, a reply that ends
while Postgres is away, a cancel at the last moment, and stream ids at the 64-bit edge.

Real coach (in the loop, or a real process where one is SIGKILLed), Redis,
Postgres and the simulator.
"""

from __future__ import annotations

import asyncio
import signal
import uuid

import asyncpg
import httpx
import redis.asyncio as redis
from coach.test_events import EVENTS, open_events, publish
from coach.test_reply_log import _killed_mid_reply

from fixtures.coach import StartCoach, coach_with_relayed_postgres, cut_once_streaming
from fixtures.coach_process import CoachProcessEnv, running_coach
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from fixtures.replies import Event, parse, post_until, resume, text_of
from fixtures.waiting import poll, stored
from pacer_common import redis_names

MAX_ID = f"{2**64 - 1}-{2**64 - 1}"


async def _keyed_post(http: httpx.AsyncClient, athlete: Athlete, key: str) -> list[Event]:
    headers = {**athlete.headers, "Idempotency-Key": key}
    async with http.stream(
        "POST", "/v1/coach/chat", json={"message": "Are you there?"}, headers=headers
    ) as response:
        assert response.status_code == 200, await response.aread()
        return parse((await response.aread()).decode())


async def test_a_coach_killed_before_the_first_token_leaves_a_reply_the_retry_gets_back(
    coach_process_env: CoachProcessEnv,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
) -> None:
    # The LLM is silent for 20 s: the client holds only its Idempotency-Key.
    await sim.set_mode(mode="slow", first_token_ms=20_000, token_ms=10, tokens=5)
    key = str(uuid.uuid4())
    env = coach_process_env()
    async with running_coach(env, stop="terminate") as (process, http):
        headers = {**runner.headers, "Idempotency-Key": key}
        async with http.stream(
            "POST", "/v1/coach/chat", json={"message": "Are you there?"}, headers=headers
        ) as response:
            assert response.status_code == 200
            await sim.wait_for_stats(lambda stats: stats["active"] >= 1)
            process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(process.wait(), timeout=5)
    env = coach_process_env()
    async with running_coach(env, stop="terminate") as (_, http):
        retried = await _keyed_post(http, runner, key)
        message_id = retried[0].data.get("message_id")
        status, resumed, _ = await resume(http, runner, str(message_id), None)
    assert [e.event for e in retried] == ["meta", "error", "done"], retried
    assert retried[1].data["code"] == "interrupted"
    assert retried[2].data["status"] == "failed"
    assert status == 200 and [e.event for e in resumed] == ["meta", "error", "done"]
    row = await stored(pg_pool, str(message_id), timeout_s=1)
    assert (row["status"], row["error_code"]) == ("failed", "interrupted")
    # Nothing was produced: the message is given back, as a graceful stop does.
    assert await pg_pool.fetchval("SELECT coalesce(sum(used), 0) FROM chat_quota") == 0


async def test_a_reply_that_ends_while_postgres_is_away_is_stored_once_it_is_back(
    start_coach: StartCoach,
    migrated_postgres: str,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=40, tokens=15)
    async with coach_with_relayed_postgres(start_coach, migrated_postgres) as (relay, http):
        cutting = asyncio.create_task(cut_once_streaming(sim, relay))
        async with http.stream(
            "POST", "/v1/coach/chat", json={"message": "Go on"}, headers=runner.headers
        ) as response:
            events = parse((await response.aread()).decode())
        await cutting
        assert events[-1].event == "done" and events[-1].data["status"] == "complete"
        message_id = uuid.UUID(events[0].data["message_id"])
        await relay.restore()

        async def is_stored() -> bool:
            status = await pg_pool.fetchval("SELECT status FROM messages WHERE id = $1", message_id)
            return bool(status == "complete")

        # By the coach that holds it, not the worker's reaper (not running here).
        await poll(
            is_stored, timeout_s=10, what="the coach to store the reply once Postgres was back"
        )
    row = await pg_pool.fetchrow("SELECT content FROM messages WHERE id = $1", message_id)
    assert row is not None and row["content"] == text_of(events)


async def test_a_row_still_streaming_whose_log_says_done_is_read_as_its_log_says(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=5, tokens=10)
    events = await _keyed_post(coach_client, runner, str(uuid.uuid4()))
    message_id = uuid.UUID(events[0].data["message_id"])
    conversation_id = events[0].data["conversation_id"]
    # As a reply whose `done` was logged while Postgres was away, before anyone stored it.
    await pg_pool.execute(
        "UPDATE messages SET status = 'streaming', content = '' WHERE id = $1", message_id
    )
    found = await coach_client.get(
        f"/v1/coach/conversations/{conversation_id}", headers=runner.headers
    )
    assert found.status_code == 200
    reply = next(m for m in found.json()["messages"] if m["id"] == str(message_id))
    assert (reply["status"], reply["content"]) == ("complete", text_of(events))
    cancel = await coach_client.post(
        f"/v1/coach/messages/{message_id}/cancel", headers=runner.headers
    )
    assert cancel.status_code == 409 and cancel.json()["error"]["code"] == "reply_finished"


async def test_a_cancel_after_the_reply_ended_is_409_and_a_202_means_cancelled(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=100, tokens=5)
    async with coach_client.stream(
        "POST", "/v1/coach/chat", json={"message": "Short one"}, headers=runner.headers
    ) as response:
        lines = response.aiter_lines()
        first = ""
        async for line in lines:
            first += line + "\n"
            if line == "":
                break
        message_id = uuid.UUID(parse(first)[0].data["message_id"])
        # The reply's storage waits on this lock: the LLM call ends, the row stays streaming.
        async with pg_pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1 FROM messages WHERE id = $1 FOR UPDATE", message_id)

            async def store_waits() -> bool:
                return bool(
                    await pg_pool.fetchval(
                        """SELECT count(*) FROM pg_stat_activity
                           WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE messages%'"""
                    )
                )

            await poll(store_waits, timeout_s=10, what="the reply's storage to wait on the lock")
            cancel = await coach_client.post(
                f"/v1/coach/messages/{message_id}/cancel", headers=runner.headers
            )
        rest_raw = ""
        async for line in lines:
            rest_raw += line + "\n"
        rest = parse(rest_raw)
    row = await stored(pg_pool, str(message_id))
    if cancel.status_code == 202:
        assert row["error_code"] == "cancelled", "202, yet the reply was stored as it ended"
    else:
        assert cancel.status_code == 409, cancel.text
        assert cancel.json()["error"]["code"] == "reply_finished"
        assert row["status"] == "complete"
    assert rest[-1].event == "done" and rest[-1].data["status"] == row["status"]


async def test_a_cancel_accepted_for_a_reply_whose_coach_died_ends_it_cancelled(
    coach_process_env: CoachProcessEnv,
    start_coach: StartCoach,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
) -> None:
    before = await _killed_mid_reply(coach_process_env, sim, runner)
    message_id = before[0].data["message_id"]
    async with (
        start_coach() as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
    ):
        cancel = await http.post(f"/v1/coach/messages/{message_id}/cancel", headers=runner.headers)
        assert cancel.status_code == 202, cancel.text
        status, after, _ = await resume(http, runner, message_id, before[-1].id)
    assert status == 200 and [e.event for e in after][-2:] == ["error", "done"]
    assert after[-2].data["code"] == "cancelled"
    row = await stored(pg_pool, message_id, timeout_s=1)
    assert (row["status"], row["error_code"]) == ("partial", "cancelled")
    assert row["content"] == text_of(before) + text_of(after)


async def test_the_notification_stream_at_the_largest_id_is_a_reset_not_a_500(
    coach_client: httpx.AsyncClient, runner: Athlete, redis_client: redis.Redis
) -> None:
    await publish(redis_client, runner, "job.failed", n=1)
    async with open_events(coach_client, runner, last_event_id=MAX_ID) as reader:
        first = await reader.event()
    assert first.event == "reset"
    past = await coach_client.get(EVENTS, headers={**runner.headers, "Last-Event-ID": f"{2**64}-0"})
    assert past.status_code == 400 and past.json()["error"]["code"] == "invalid_last_event_id"


async def test_a_reply_resume_at_or_past_the_64_bit_edge_is_4xx_or_a_whole_replay(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, redis_client: redis.Redis
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=5, tokens=10)
    before = await post_until(coach_client, runner, deltas=1)
    message_id = before[0].data["message_id"]
    for past in (f"{2**64}-0", f"0-{2**64}", "99999999999999999999-0"):
        status, _, body = await resume(coach_client, runner, message_id, past)
        assert status == 400, past
        assert body["error"]["code"] == "invalid_last_event_id"
    # The largest id there is follows nothing this log holds: the reply is replayed whole.
    async with asyncio.timeout(15):
        status, whole, _ = await resume(coach_client, runner, message_id, MAX_ID)
    assert status == 200
    assert whole[0].event == "meta" and whole[-1].event == "done"
    log = await redis_client.xlen(redis_names.reply_log_key(message_id))
    assert len(whole) == log
