"""A tool stuck on a real Postgres row lock: cut at FUNCTION_TIMEOUT_SECONDS, or its coach killed.

The lock: the test holds the reply's own ``messages`` row ``FOR UPDATE``; the
proposal's INSERT checks its foreign key to that row (``FOR KEY SHARE``) and
waits. The simulator streams the call's arguments slowly (300 ms a fragment),
so the lock is held from the reply's ``meta`` on, well before the call is whole.
Each case runs in both dialects; a killed coach's reply is settled by the keyed
retry (Anthropic) or by the reaper before it (OpenAI), its tool line closed either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from fixtures.coach import SseEvent, StartCoach, parse_sse, read_result
from fixtures.coach_process import coach_env, ready_coach_process
from fixtures.core_api import Athlete
from fixtures.infra import free_port
from fixtures.llm_sim import LLMSim
from fixtures.waiting import poll, stored
from pacer_coach.metrics import TOOL_CALLS, TOOL_TIMEOUTS
from pacer_common import redis_names
from pacer_common.reply_log import settle_dead_producers

RUN = "I ran 10k this morning in 52 minutes"


class _Events:
    """A streamed response's SSE events, read as far as a test asks."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.aiter_text()
        self._raw = ""
        self.seen: list[SseEvent] = []

    async def until(self, wanted: Callable[[SseEvent], bool]) -> None:
        """Read on until an event matches ``wanted``."""
        async for chunk in self._chunks:
            self._raw += chunk.replace("\r\n", "\n")
            whole, _, self._raw = self._raw.rpartition("\n\n")
            if whole:
                events, _ = parse_sse(whole + "\n\n")
                self.seen.extend(events)
                if any(wanted(event) for event in events):
                    return
        raise AssertionError(f"the stream ended first: {self.seen}")

    async def rest(self) -> list[SseEvent]:
        await self.until(lambda event: event.event == "done")
        return self.seen


@contextlib.asynccontextmanager
async def _row_locked(pool: asyncpg.Pool, message_id: str) -> AsyncIterator[None]:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM messages WHERE id = $1 FOR UPDATE", uuid.UUID(message_id))
        yield


async def _insert_waiting(pool: asyncpg.Pool) -> bool:
    """A backend's INSERT INTO coach_proposals is waiting for a lock."""
    waiting: bool = await pool.fetchval(
        """SELECT count(*) > 0 FROM pg_stat_activity
           WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO coach_proposals%'"""
    )
    return waiting


async def _slow_call(sim: LLMSim) -> None:
    # The default mode's propose_activity, its arguments 300 ms a fragment; a short answer after.
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=300, tokens=3)


@pytest.mark.parametrize("model", ["CLAUDE_HAIKU", "GPT_MINI"])
async def test_a_tool_stuck_on_a_row_lock_hits_its_deadline_and_the_reply_ends(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool, model: str
) -> None:
    await _slow_call(sim)
    timeouts_before = TOOL_TIMEOUTS.labels("propose_activity")._value.get()
    async with (
        start_coach(FUNCTION_TIMEOUT_SECONDS=1.0, DEFAULT_MODEL=model) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
        http.stream(
            "POST", "/v1/coach/chat", json={"message": RUN}, headers=runner.headers
        ) as response,
    ):
        events = _Events(response)
        await events.until(lambda event: event.event == "meta")
        message_id = events.seen[0].data["message_id"]
        async with _row_locked(pg_pool, message_id):
            await events.until(
                lambda event: event.event == "tool" and event.data["status"] != "running"
            )
        seen = await events.rest()
    tool_events = [event.data for event in seen if event.event == "tool"]
    assert tool_events[-1]["status"] == "error"
    assert tool_events[-1]["error"] == "timed out after 1.0 s"
    assert seen[-1].data["status"] == "complete"
    # The model answered from the error.
    text = "".join(event.data["text"] for event in seen if event.event == "delta")
    assert "«error: timed out after 1.0 s»" in text
    assert await pg_pool.fetchval("SELECT count(*) FROM coach_proposals") == 0
    row = await stored(pg_pool, message_id)
    assert row["status"] == "complete"
    # Counted (the coach runs in this process: its registry is this one).
    assert TOOL_TIMEOUTS.labels("propose_activity")._value.get() == timeouts_before + 1


async def _reap(pool: asyncpg.Pool, redis_url: str, message_id: str) -> None:
    """The briefing worker's reaper, one pass, once the dead coach's heartbeat is gone."""
    raw = redis.Redis.from_url(redis_url)  # the worker's arq client reads bytes: the same here
    try:
        heartbeat = redis_names.reply_heartbeat_key(message_id)
        await poll(
            lambda: _gone(raw, heartbeat), timeout_s=10, what="the dead coach's heartbeat to expire"
        )
        async with pool.acquire() as conn:
            assert await settle_dead_producers(conn, raw, older_than_s=0) == 1
    finally:
        await raw.aclose()


async def _gone(client: redis.Redis, key: str) -> bool:
    return not await client.exists(key)


# Who settles the dead reply: the keyed retry itself, or the reaper before it (the
# retry then only reads the log's ending); one of each dialect.
@pytest.mark.parametrize(
    ("model", "settled_by"),
    [("CLAUDE_HAIKU", "retry"), ("GPT_MINI", "reaper")],
    ids=["anthropic-retry-settles", "openai-reaper-settles"],
)
async def test_a_coach_killed_mid_tool_settles_the_reply_and_proposes_once(
    migrated_postgres: str,
    jwt_key_files: tuple[Path, Path],
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_url: str,
    model: str,
    settled_by: str,
) -> None:
    await _slow_call(sim)
    headers = {**runner.headers, "Idempotency-Key": str(uuid.uuid4())}
    env = coach_env(
        migrated_postgres, jwt_key_files, sim, free_port(), redis_url, DEFAULT_MODEL=model
    )
    process = await ready_coach_process(env)
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{env['COACH_PORT']}", timeout=30) as http,
            http.stream(
                "POST", "/v1/coach/chat", json={"message": RUN}, headers=headers
            ) as response,
        ):
            events = _Events(response)
            await events.until(lambda event: event.event == "meta")
            message_id = events.seen[0].data["message_id"]
            async with _row_locked(pg_pool, message_id):
                await events.until(lambda event: event.event == "tool")
                await poll(
                    lambda: _insert_waiting(pg_pool),
                    timeout_s=10,
                    what="the proposal's INSERT to wait on the lock",
                )
                # The proposal's INSERT waits on the lock: the coach dies in the middle of it.
                process.send_signal(signal.SIGKILL)
                await asyncio.wait_for(process.wait(), timeout=5)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    # The dead coach's statement was already in Postgres: it ends, with nobody to answer.
    async def proposals() -> int:
        count: int = await pg_pool.fetchval("SELECT count(*) FROM coach_proposals")
        return count

    await poll(proposals, timeout_s=10, what="the dead coach's INSERT to end")
    if settled_by == "reaper":
        await _reap(pg_pool, redis_url, message_id)

    restarted = coach_env(
        migrated_postgres, jwt_key_files, sim, free_port(), redis_url, DEFAULT_MODEL=model
    )
    process = await ready_coach_process(restarted)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{restarted['COACH_PORT']}", timeout=30
        ) as http:
            # The retry attaches to the dead reply: it is settled, nothing runs again.
            async with http.stream(
                "POST", "/v1/coach/chat", json={"message": RUN}, headers=headers
            ) as response:
                retried = await read_result(response)
            # A resume (a reload, another tab) reads the same ending from the log.
            async with http.stream(
                "GET", f"/v1/coach/messages/{message_id}/stream", headers=runner.headers
            ) as response:
                resumed = await read_result(response)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)
    assert [(e.event, e.data.get("status")) for e in retried.events] == [
        ("meta", None),
        ("tool", "running"),
        ("tool", "error"),
        ("error", None),
        ("done", "failed"),
    ]
    assert [e.data for e in resumed.events] == [e.data for e in retried.events]
    assert retried.events[2].data["error"] == "interrupted"
    assert retried.events[3].data["code"] == "interrupted"
    assert await proposals() == 1  # its key (reply, step): never twice
    row = await stored(pg_pool, message_id)
    assert (row["status"], row["error_code"]) == ("failed", "interrupted")


@pytest.mark.parametrize("model", ["CLAUDE_HAIKU", "GPT_MINI"])
async def test_a_cancel_mid_tool_ends_the_calls_line_and_the_reply(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool, model: str
) -> None:
    await _slow_call(sim)
    stopped = TOOL_CALLS.labels("propose_activity", "stopped")
    stopped_before = stopped._value.get()
    async with (
        # FUNCTION_TIMEOUT_SECONDS 30: only the cancel ends the call.
        start_coach(DEFAULT_MODEL=model) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
        _held_mid_tool(http, runner, pg_pool) as (events, message_id),
    ):
        cancelled = await http.post(
            f"/v1/coach/messages/{message_id}/cancel", headers=runner.headers
        )
        assert cancelled.status_code == 202
        await events.until(
            lambda event: event.event == "tool" and event.data["status"] != "running"
        )
    seen = events.seen
    assert [(e.event, e.data.get("status")) for e in seen[1:]] == [
        ("tool", "running"),
        ("tool", "error"),
        ("error", None),
        ("done", "failed"),
    ]
    assert seen[2].data["error"] == "stopped" and seen[3].data["code"] == "cancelled"
    assert await pg_pool.fetchval("SELECT count(*) FROM coach_proposals") == 0
    assert stopped._value.get() == stopped_before + 1  # counted, with its own outcome


@contextlib.asynccontextmanager
async def _held_mid_tool(
    http: httpx.AsyncClient, runner: Athlete, pool: asyncpg.Pool
) -> AsyncIterator[tuple[_Events, str]]:
    """A chat whose proposal's INSERT waits on the row lock, held until the block ends."""
    async with http.stream(
        "POST", "/v1/coach/chat", json={"message": RUN}, headers=runner.headers
    ) as response:
        events = _Events(response)
        await events.until(lambda event: event.event == "meta")
        message_id = events.seen[0].data["message_id"]
        async with _row_locked(pool, message_id):
            await poll(
                lambda: _insert_waiting(pool),
                timeout_s=10,
                what="the proposal's INSERT to wait on the lock",
            )
            yield events, message_id
        await events.rest()


@pytest.mark.parametrize("model", ["CLAUDE_HAIKU", "GPT_MINI"])
async def test_an_error_in_the_round_after_a_proposal_keeps_the_proposal(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool, model: str
) -> None:
    await _slow_call(sim)
    async with (
        start_coach(DEFAULT_MODEL=model) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
    ):
        async with _held_mid_tool(http, runner, pg_pool) as (events, _):
            # The model's next round (after the proposal is stored) fails upstream.
            await sim.set_mode(mode="error", status=500)
        listed = await http.get("/v1/coach/proposals?status=pending", headers=runner.headers)
    tool_events = [event.data for event in events.seen if event.event == "tool"]
    assert [t["status"] for t in tool_events] == ["running", "done"]
    assert [e.event for e in events.seen][-2:] == ["error", "done"]
    assert events.seen[-1].data["status"] == "failed"
    # The proposal the first round made stands: pending, listed, the athlete's to decide.
    proposal = tool_events[1]["proposal"]
    assert [item["id"] for item in listed.json()["items"]] == [proposal["id"]]
    assert listed.json()["items"][0]["status"] == "pending"


async def test_a_stuck_tool_is_cut_at_what_is_left_of_the_replys_budget(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await _slow_call(sim)
    async with (
        # The reply's budget (4 s) ends long before the call's own 30 s.
        start_coach(COACH_STREAM_TIMEOUT_SECONDS=4.0, FUNCTION_TIMEOUT_SECONDS=30.0) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
    ):
        started = asyncio.get_running_loop().time()
        async with _held_mid_tool(http, runner, pg_pool) as (events, _):
            await events.until(
                lambda event: event.event == "tool" and event.data["status"] != "running"
            )
        took = asyncio.get_running_loop().time() - started
    tool_events = [event.data for event in events.seen if event.event == "tool"]
    assert tool_events[-1]["status"] == "error"
    # Its timeout was what the reply had left (under 4 s), not FUNCTION_TIMEOUT_SECONDS.
    error = tool_events[-1]["error"]
    assert error.startswith("timed out after ") and float(error.split()[3]) < 4.0, error
    assert took < 8, "cut at the reply's budget, not at FUNCTION_TIMEOUT_SECONDS"
    # Nothing left for another round: the reply ends on its deadline.
    assert events.seen[-2].data["code"] == "timeout"
    assert events.seen[-1].event == "done" and events.seen[-1].data["status"] == "failed"
    assert await pg_pool.fetchval("SELECT count(*) FROM coach_proposals") == 0


async def test_a_shutdown_mid_tool_stops_the_call_then_the_reply(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await _slow_call(sim)
    async with (
        start_coach() as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
    ):
        async with _held_mid_tool(http, runner, pg_pool) as (events, _):
            coach.stop.set()  # as SIGTERM does: the drain stops the reply mid-call
            await events.until(
                lambda event: event.event == "tool" and event.data["status"] != "running"
            )
    assert [(e.event, e.data.get("status")) for e in events.seen[1:]] == [
        ("tool", "running"),
        ("tool", "error"),
        ("error", None),
        ("done", "failed"),
    ]
    assert events.seen[2].data["error"] == "stopped"
    assert events.seen[3].data["code"] == "shutdown"
    assert await pg_pool.fetchval("SELECT count(*) FROM coach_proposals") == 0
