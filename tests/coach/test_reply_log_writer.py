"""One reply-log writer per coach process (chat/log_writer.py): replies streaming at
once share their pipelines, and each reply's text still arrives exactly once.

Real Redis, Postgres and the simulator; the writer's pipelines and entries are
read off the coach's own metrics (the in-loop coach shares the test's registry,
so the counters are compared before and after).
"""

from __future__ import annotations

import asyncio
import re

import asyncpg
import httpx
import redis.asyncio as redis
from coach.test_reply_log import Event, parse, stored, text_of

from fixtures.coach import StartCoach
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from pacer_common import redis_names

STREAMS = 8


def _counter(metrics: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", metrics, re.MULTILINE)
    assert found is not None, f"{name} is not in the coach's metrics"
    return float(found.group(1))


async def _writes_and_entries(http: httpx.AsyncClient, metrics_url: str) -> tuple[float, float]:
    metrics = (await http.get(metrics_url)).text
    return (
        _counter(metrics, "coach_reply_log_writes_total"),
        _counter(metrics, "coach_reply_log_entries_total"),
    )


async def _chat(http: httpx.AsyncClient, athlete: Athlete) -> list[Event]:
    async with http.stream(
        "POST", "/v1/coach/chat", json={"message": "Talk me through it"}, headers=athlete.headers
    ) as response:
        assert response.status_code == 200
        return parse((await response.aread()).decode())


async def test_replies_streaming_at_once_share_their_pipelines_and_lose_nothing(
    start_coach: StartCoach,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
) -> None:
    # A token every 50 ms, longer than the 40 ms window: one producer alone
    # would write a pipeline per token; eight together share each window's.
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=50, tokens=30)
    async with (
        start_coach(SSE_MAX_STREAMS_PER_USER=STREAMS) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
    ):
        writes_before, entries_before = await _writes_and_entries(http, coach.metrics_url)
        replies = await asyncio.gather(*(_chat(http, runner) for _ in range(STREAMS)))
        writes_after, entries_after = await _writes_and_entries(http, coach.metrics_url)
    writes, entries = writes_after - writes_before, entries_after - entries_before
    assert entries >= STREAMS * 30, f"{entries} entries for {STREAMS} replies of 30 tokens"
    # About STREAMS entries a pipeline while all stream; fewer as they start and end.
    assert entries / writes >= 3, f"{entries:.0f} entries in {writes:.0f} pipelines"
    for events in replies:
        assert [e.event for e in events].count("done") == 1 and events[-1].event == "done"
        assert events[-1].data["status"] == "complete"
        message_id = events[0].data["message_id"]
        row = await stored(pg_pool, message_id)
        assert text_of(events) == row["content"] and row["content"]
        log_key = redis_names.reply_log_key(message_id)
        assert await redis_client.xlen(log_key) == len(events), "one log entry per SSE event"
        assert not await redis_client.exists(redis_names.reply_heartbeat_key(message_id))
        assert 0 < await redis_client.ttl(log_key) <= redis_names.DEFAULT_REPLY_LOG_TTL_SECONDS
