"""The bench's reply log variants: the in-memory stand-in, and REPLY_FLUSH_BYTES.

``make bench-coach`` compares the coach with its Redis log and without it
(pacer_devstack.memory_reply_log, run by pacer_devstack.coach_without_log) and
per-token events with coalesced ones; these check the stand-in serves chats and
resumes as the real log does, never touches Redis, and that the service itself
has no way to run without the durable log.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from fixtures.coach import StartCoach
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from fixtures.replies import parse, post_until, resume, text_of
from fixtures.waiting import stored
from pacer_coach.settings import CoachSettings
from pacer_common import redis_names
from pacer_devstack.memory_reply_log import MemoryReplyLog


async def test_the_memory_backend_streams_and_resumes_without_touching_redis(
    start_coach: StartCoach,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=15, tokens=60)
    async with (
        start_coach(reply_log=cast(redis.Redis, MemoryReplyLog())) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
    ):
        # The client drops after two deltas, then resumes from the last one it saw.
        before = await post_until(http, runner, deltas=2, message="Long, please")
        message_id = before[0].data["message_id"]
        status, after, _ = await resume(http, runner, message_id, str(before[-1].id))
        assert status == 200
        assert [e.event for e in after].count("done") == 1 and after[-1].event == "done"
        row = await stored(pg_pool, message_id)
        assert row["status"] == "complete"
        assert text_of(before) + text_of(after) == row["content"]
        assert not await redis_client.exists(
            redis_names.reply_log_key(message_id), redis_names.reply_heartbeat_key(message_id)
        ), "the memory backend wrote the reply's log or heartbeat to Redis"


async def test_flush_bytes_1_sends_one_event_per_token(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=1, tokens=50)
    async with (
        start_coach(REPLY_FLUSH_BYTES=1, REPLY_FLUSH_MS=1000) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
        http.stream(
            "POST", "/v1/coach/chat", json={"message": "Tell me all"}, headers=runner.headers
        ) as response,
    ):
        events = parse((await response.aread()).decode())
    assert events[-1].event == "done" and events[-1].data["status"] == "complete"
    assert sum(e.event == "delta" for e in events) == 50


def test_production_refuses_the_memory_backend(tmp_path: Path) -> None:
    # The stand-in moved to the benchmarks (issue 20): the service has no setting that
    # selects it, so no environment, production's included, can run without the log.
    public_key = tmp_path / "public.pem"
    public_key.write_text("only its existence is checked here\n")
    production: dict[str, Any] = {
        "ENVIRONMENT": "production",
        "DATABASE_URL": "postgresql://pacer:s3cret@postgres:5432/pacer",
        "REDIS_URL": "redis://redis:6379/0",
        "ALLOWED_ORIGINS": "https://pacer.example.com",
        "JWT_PUBLIC_KEY_FILE": public_key,
        "ANTHROPIC_API_KEY": "sk-test",
        "OPENAI_API_KEY": "sk-test",
    }
    # An old environment that still names it: ignored, like any name the service lacks.
    settings = CoachSettings(**{**production, "REPLY_LOG_BACKEND": "memory"})
    assert "REPLY_LOG_BACKEND" not in type(settings).model_fields
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("pacer_coach.chat.memory_log")
