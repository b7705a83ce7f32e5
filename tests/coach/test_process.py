"""The real `python -m pacer_coach` process: SIGTERM with open streams, and bad settings."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import asyncpg
import httpx

from fixtures.coach import ChatResult, chat, parse_sse
from fixtures.coach_process import CoachProcessEnv, running_coach
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim


async def test_sigterm_ends_every_stream_and_exits_within_5_seconds(
    coach_process_env: CoachProcessEnv,
    runner: Athlete,
    sim: LLMSim,
) -> None:
    env = coach_process_env()
    async with running_coach(env) as (process, http):
        await sim.set_mode(mode="slow", first_token_ms=0, token_ms=200, tokens=1000)
        streams = [asyncio.create_task(chat(http, runner)) for _ in range(3)]
        await sim.wait_for_stats(lambda stats: stats["active"] >= 3)
        started = asyncio.get_running_loop().time()
        process.send_signal(signal.SIGTERM)
        results = await asyncio.gather(*streams)
        code = await asyncio.wait_for(process.wait(), timeout=5)
        took = asyncio.get_running_loop().time() - started
    assert code == 0
    assert took < 5
    for result in results:
        assert [event.event for event in result.events[-2:]] == ["error", "done"]
        assert result.of("error")[0].data["code"] == "shutdown"


async def test_a_missing_setting_stops_the_coach_with_a_clear_message() -> None:
    clean = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME"}}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pacer_coach", env=clean, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2
    assert b"DATABASE_URL: required but not set" in stderr


async def _chat_seen(
    http: httpx.AsyncClient, athlete: Athlete, first_delta: asyncio.Event
) -> ChatResult:
    """``chat``, but sets ``first_delta`` as soon as the client has received some text."""
    async with http.stream(
        "POST", "/v1/coach/chat", json={"message": "Long answer, please"}, headers=athlete.headers
    ) as response:
        raw = b""
        async for chunk in response.aiter_raw():
            raw += chunk
            if b"event: delta" in raw:
                first_delta.set()
    result = ChatResult(response.status_code, response.headers)
    result.events, result.comments = parse_sse(raw.decode())
    return result


async def test_sigterm_stores_every_open_reply_with_the_text_its_client_saw(
    coach_process_env: CoachProcessEnv,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
) -> None:
    streams = 10
    env = coach_process_env(SSE_MAX_STREAMS_PER_USER=str(streams))
    async with running_coach(env) as (process, http):
        await sim.set_mode(mode="slow", first_token_ms=0, token_ms=50, tokens=10_000)
        seen = [asyncio.Event() for _ in range(streams)]
        chats = [asyncio.create_task(_chat_seen(http, runner, event)) for event in seen]
        async with asyncio.timeout(20):
            await asyncio.gather(*(event.wait() for event in seen))
        process.send_signal(signal.SIGTERM)
        results = await asyncio.gather(*chats)
        code = await asyncio.wait_for(process.wait(), timeout=5)
    assert code == 0
    rows = {
        str(row["id"]): row
        for row in await pg_pool.fetch(
            "SELECT id, content, status, error_code FROM messages WHERE role = 'assistant'"
        )
    }
    assert len(rows) == streams
    for result in results:
        assert [event.event for event in result.events[-2:]] == ["error", "done"]
        assert result.events[-1].data["status"] == "partial"
        row = rows[result.of("meta")[0].data["message_id"]]
        assert (row["status"], row["error_code"]) == ("partial", "shutdown")
        assert result.text and row["content"] == result.text
