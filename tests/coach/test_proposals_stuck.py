"""A tool stuck on a real Postgres row lock: cut at FUNCTION_TIMEOUT_SECONDS, or its coach killed.

The lock: the test holds the reply's own ``messages`` row ``FOR UPDATE``; the
proposal's INSERT checks its foreign key to that row (``FOR KEY SHARE``) and
waits. The simulator streams the call's arguments slowly (300 ms a fragment),
so the lock is held from the reply's ``meta`` on, well before the call is whole.
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

from fixtures.coach import SseEvent, StartCoach, parse_sse, read_result
from fixtures.coach_process import coach_env, ready_coach_process
from fixtures.core_api import Athlete
from fixtures.infra import free_port
from fixtures.llm_sim import LLMSim
from fixtures.waiting import poll, stored

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


async def test_a_tool_stuck_on_a_row_lock_hits_its_deadline_and_the_reply_ends(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await _slow_call(sim)
    async with (
        start_coach(FUNCTION_TIMEOUT_SECONDS=1.0) as coach,
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


async def test_a_coach_killed_mid_tool_settles_the_reply_and_proposes_once(
    migrated_postgres: str,
    jwt_key_files: tuple[Path, Path],
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_url: str,
) -> None:
    await _slow_call(sim)
    headers = {**runner.headers, "Idempotency-Key": str(uuid.uuid4())}
    env = coach_env(migrated_postgres, jwt_key_files, sim, free_port(), redis_url)
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

    restarted = coach_env(migrated_postgres, jwt_key_files, sim, free_port(), redis_url)
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
    assert retried.events[2].data["error"] == "interrupted"
    assert retried.events[3].data["code"] == "interrupted"
    assert await proposals() == 1  # its key (reply, step): never twice
    row = await stored(pg_pool, message_id)
    assert (row["status"], row["error_code"]) == ("failed", "interrupted")
