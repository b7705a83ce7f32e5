"""One reply-log writer per coach process (chat/log_writer.py): replies streaming at
once share their pipelines, each reply's text still arrives exactly once, beats
stay once a second, and a beat whose write failed is sent again at once.

Real Redis, Postgres and the simulator; the writer's pipelines and entries are
read off the coach's own metrics (the in-loop coach shares the test's registry,
so the counters are compared before and after). The beat-timer test drives the
writer itself with sources of its own (its protocol's other side), on real Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import redis.asyncio as redis
from redis.asyncio.client import Pipeline

from fixtures.coach import StartCoach
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from fixtures.replies import Event, parse, text_of
from fixtures.tcp_relay import relayed
from fixtures.waiting import elapse, poll, stored
from pacer_coach.chat.log_writer import HEARTBEAT_EVERY_S, ReplyLogWriter
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
    # The window kept at 40 ms (REPLY_FLUSH_MAX_MS): an entry per token, as this
    # counts; growing windows are chat/coalesce.py's (test_coalesce.py).
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=50, tokens=30)
    async with (
        start_coach(SSE_MAX_STREAMS_PER_USER=STREAMS, REPLY_FLUSH_MAX_MS=40) as coach,
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


class BeatOnly:
    """A source with nothing to log: the writer stages it on its beats only."""

    def __init__(self, on_beat: Callable[[], None] | None = None) -> None:
        self.beats: list[float] = []
        self._on_beat = on_beat

    @property
    def log_key(self) -> str:
        return "pacer:test:beat-only"

    @property
    def needs_log_check(self) -> bool:
        return False

    def checked(self, newest: list[Any]) -> None:
        raise AssertionError("no write of it failed")

    def stage(self, pipe: Pipeline, *, beat: bool) -> tuple[int, int]:
        if not beat:
            return 0, 0
        # A beat's pipeline that takes a while (an empty list's BLPOP waits 50 ms), as
        # on a loaded Redis: a timer armed during it fires apart from one armed after.
        pipe.execute_command("BLPOP", self.log_key, "0.05")
        if self._on_beat is not None:
            self._on_beat()
        return 1, 0

    def landed(self, results: list[Any]) -> None:
        self.beats.append(time.monotonic())

    def failed(self, *, beat: bool) -> None:
        raise AssertionError("Redis is up")


async def test_replies_that_start_during_a_beat_do_not_add_beats(redis_client: redis.Redis) -> None:
    # A reply added while a beat's pipeline is out used to arm a second beat timer
    # beside the one the writer re-arms: beats multiplied with every such start.
    writer = ReplyLogWriter(redis_client, flush_ms=40)
    writer.start()
    try:
        long_lived = BeatOnly(on_beat=lambda: writer.add(BeatOnly()))
        writer.add(long_lived)
        # A span of time, not a condition: how many beats fall in it is the assertion.
        await elapse(3.5 * HEARTBEAT_EVERY_S, why="the span whose beats are counted")
    finally:
        await writer.aclose()
    beats = long_lived.beats
    gaps = [round(later - earlier, 3) for earlier, later in itertools.pairwise(beats)]
    # About 1.05, 2.15 and 3.3 s (each source's BLPOP lengthens the beat's pipeline).
    assert 2 <= len(beats) <= 3 and min(gaps) >= 0.9 * HEARTBEAT_EVERY_S, gaps


def _failures(metrics: str) -> float:
    return _counter(metrics, "coach_reply_log_write_failures_total")


async def test_a_heartbeat_whose_write_failed_is_sent_again_within_a_window(
    start_coach: StartCoach, redis_url: str, redis_client: redis.Redis, runner: Athlete, sim: LLMSim
) -> None:
    # The LLM is silent for 8 s: the reply's only writes are its beats.
    await sim.set_mode(mode="slow", first_token_ms=8000, token_ms=10, tokens=5)
    async with (
        relayed(redis_url) as (relay, url),
        start_coach(REDIS_URL=url) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
    ):
        chat = asyncio.create_task(
            http.post("/v1/coach/chat", json={"message": "Take your time"}, headers=runner.headers)
        )
        try:
            alive = await _until_one(redis_client, redis_names.reply_heartbeat_key("*"))
            failures = _failures((await http.get(coach.metrics_url)).text)
            await relay.cut()

            async def beat_failed() -> bool:
                return _failures((await http.get(coach.metrics_url)).text) != failures

            await poll(
                beat_failed,
                timeout_s=3 * HEARTBEAT_EVERY_S,
                interval_s=0.01,
                what="a beat written while Redis was cut",
            )
            await relay.restore()

            async def beat_again() -> bool:
                fresh = 1000 * (redis_names.REPLY_HEARTBEAT_TTL_SECONDS - 0.4)
                return bool(await redis_client.pttl(alive) >= fresh)

            # Owed, it goes with the next window's write, not with the next beat a second later.
            await poll(
                beat_again, timeout_s=0.5, interval_s=0.01, what="the failed heartbeat sent again"
            )
        finally:
            chat.cancel()


async def _until_one(client: redis.Redis, pattern: str) -> str:
    async def matching() -> list[str]:
        return [str(key) async for key in client.scan_iter(match=pattern)]

    found = await poll(matching, timeout_s=10, interval_s=0.01, what=f"a key matching {pattern}")
    assert len(found) == 1, found
    return found[0]
