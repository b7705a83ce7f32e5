"""Redis goes away in the middle of a reply (issue 11's promise: every stream
ends with a terminal event, and nothing the client saw is lost).

The coach reaches Redis through a TCP relay the test cuts. The POST's own
stream is fed by its producer in-process, with each entry once Redis has it:
it waits out a blip and goes on. A resume reads the log itself: it ends cleanly
with a retryable ``error`` that carries no ``id:``, and a resume from the last
event id once Redis is back gets exactly the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import httpx
import redis.asyncio as redis

from fixtures.coach import StartCoach
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from fixtures.replies import Event, parse, post_until, resume, text_of
from fixtures.tcp_relay import TcpRelay, relayed
from fixtures.waiting import poll, stored
from pacer_common import redis_names


async def test_the_post_stream_waits_out_a_redis_blip_with_the_text_once(
    start_coach: StartCoach, redis_url: str, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    async def blip(relay: TcpRelay, seen: list[Event]) -> bool:
        if sum(e.event == "delta" for e in seen) < 2:
            return False
        await relay.cut()
        await sim.wait_for_stats(lambda stats: stats["active"] == 0)
        await relay.restore()
        return True

    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=50, tokens=40)
    events = await _post_through(start_coach, redis_url, runner, blip)
    await _stored_once(pg_pool, events)


async def test_entries_redis_applied_whose_answer_was_lost_reach_the_post_stream_once(
    start_coach: StartCoach,
    redis_url: str,
    redis_client: redis.Redis,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
) -> None:
    # The writer learns what landed from the log's newest id; what did must be
    # handed to the POST's stream too, not only dropped from what is pending.
    async def answers_lost(relay: TcpRelay, seen: list[Event]) -> bool:
        if sum(e.event == "delta" for e in seen) < 2:
            return False
        key = redis_names.reply_log_key(seen[0].data["message_id"])
        relay.answers_lost = True
        await _until_logged_beyond(redis_client, key, len(seen))
        await relay.cut()
        relay.answers_lost = False
        await relay.restore()
        return True

    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=50, tokens=40)
    events = await _post_through(start_coach, redis_url, runner, answers_lost)
    await _stored_once(pg_pool, events)
    assert [e.id for e in events] == sorted({e.id for e in events}, key=_entry_order)


async def _post_through(
    start_coach: StartCoach,
    redis_url: str,
    runner: Athlete,
    fault: Callable[[TcpRelay, list[Event]], Awaitable[bool]],
) -> list[Event]:
    """A chat POSTed to a coach that reaches Redis through a relay: ``fault`` sees the
    whole events read so far until it returns True (it did its harm); then the rest."""
    async with relayed(redis_url) as (relay, url):
        async with start_coach(REDIS_URL=url) as coach:
            async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
                raw = ""
                done = False
                async with http.stream(
                    "POST",
                    "/v1/coach/chat",
                    json={"message": "Long answer, please"},
                    headers=runner.headers,
                ) as response:
                    assert response.status_code == 200
                    async for chunk in response.aiter_text():
                        raw += chunk
                        if not done:
                            done = await fault(relay, parse(raw.rsplit("\n\n", 1)[0] + "\n\n"))
    assert done, "the reply ended before the fault"
    return parse(raw)


async def _stored_once(pg_pool: asyncpg.Pool, events: list[Event]) -> None:
    """One `done`, last; the reply stored complete, with exactly the text streamed."""
    assert [e.event for e in events].count("done") == 1 and events[-1].event == "done"
    row = await stored(pg_pool, events[0].data["message_id"])
    assert row["status"] == "complete"
    assert text_of(events) == row["content"]


async def _until_logged_beyond(client: redis.Redis, key: str, count: int) -> None:
    """Until Redis has applied an entry the coach has not heard back about."""

    async def beyond() -> bool:
        return bool(await client.xlen(key) > count)

    await poll(beyond, timeout_s=10, interval_s=0.01, what="an entry beyond those heard back")


def _entry_order(entry_id: str | None) -> tuple[int, int]:
    assert entry_id is not None
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence)


async def test_a_resume_that_loses_redis_ends_cleanly_and_a_later_one_gets_the_rest(
    start_coach: StartCoach, redis_url: str, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=100, tokens=30)
    async with relayed(redis_url) as (relay, url):
        async with start_coach(REDIS_URL=url) as coach:
            async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
                first = await post_until(http, runner, deltas=1)
                message_id = first[0].data["message_id"]
                raw = ""
                async with http.stream(
                    "GET",
                    f"/v1/coach/messages/{message_id}/stream",
                    headers={**runner.headers, "Last-Event-ID": str(first[-1].id)},
                ) as response:
                    assert response.status_code == 200
                    chunks = response.aiter_text()
                    async for chunk in chunks:
                        raw += chunk
                        if any(e.event == "delta" for e in parse(raw)):
                            break
                    await relay.cut()
                    # Read to the end: a broken chunked body would raise here.
                    async for chunk in chunks:
                        raw += chunk
                seen = first + parse(raw)
                assert [e.event for e in seen].count("done") == 0
                ending = seen[-1]
                assert ending.event == "error" and ending.id is None
                assert ending.data["code"] == "unavailable" and ending.data["retryable"] is True
                last_id = [e.id for e in seen if e.id is not None][-1]

                await relay.restore()
                row = await stored(pg_pool, message_id)
                assert row["status"] == "complete"
                rest = await _resume_when_redis_answers(http, runner, message_id, last_id)
    assert [e.event for e in rest].count("done") == 1
    assert text_of(seen) + text_of(rest) == row["content"]


async def _resume_when_redis_answers(
    http: httpx.AsyncClient, runner: Athlete, message_id: str, last_id: str
) -> list[Event]:

    async def resumed() -> list[Event] | None:
        status, events, _ = await resume(http, runner, message_id, last_id)
        return events if status == 200 and events and events[-1].event == "done" else None

    return await poll(resumed, timeout_s=10, interval_s=0.2, what="a resume that ends in done")
