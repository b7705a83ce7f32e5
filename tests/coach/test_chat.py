"""POST /v1/coach/chat: the stream's shape, what is stored, and how it ends under every fault."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from fixtures.coach import Coach, StartCoach, chat
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim, start_llm_sim
from fixtures.replies import post_until, text_of
from fixtures.waiting import stored


async def _assistant_rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT content, status, error_code, model FROM messages WHERE role = 'assistant' ORDER BY created_at"
    )
    return rows


async def test_a_reply_streams_meta_deltas_then_done(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    result = await chat(coach_client, runner)
    assert result.status_code == 200
    names = [event.event for event in result.events]
    assert names[0] == "meta" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"}
    meta = result.events[0].data
    assert meta["model"] == "CLAUDE_HAIKU"
    assert {"conversation_id", "message_id", "user_message_id"} <= meta.keys()
    done = result.events[-1].data
    assert done["status"] == "complete"
    # Deltas are coalesced (a flush window's tokens in one event) since the reply
    # log: the provider's count is no longer one per event, but never fewer.
    assert done["usage"]["output_tokens"] >= len(result.of("delta")) >= 1
    assert done["latency_ms"] >= 0
    rows = await _assistant_rows(pg_pool)
    assert [(row["content"], row["status"]) for row in rows] == [(result.text, "complete")]
    assert int(result.headers["X-RateLimit-Remaining"]) == 49


async def test_the_users_message_is_stored_before_the_llm_answers(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await sim.set_mode(mode="hang")
    pending = asyncio.create_task(chat(coach_client, runner, "Is my knee pain serious?"))
    await sim.wait_for_stats(lambda stats: stats["active"] >= 1)
    stored = await pg_pool.fetch("SELECT role, content, status FROM messages ORDER BY created_at")
    assert [(row["role"], row["status"]) for row in stored] == [
        ("user", "complete"),
        ("assistant", "streaming"),
    ]
    assert stored[0]["content"] == "Is my knee pain serious?"
    result = await pending
    assert result.of("error")[0].data["code"] == "timeout"


FAULTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("hang", {"mode": "hang"}, "timeout", "failed"),
    ("529 overloaded", {"mode": "error", "status": 529}, "overloaded", "failed"),
    ("429 rate limited", {"mode": "error", "status": 429}, "overloaded", "failed"),
    ("500", {"mode": "error", "status": 500}, "upstream_error", "failed"),
    ("drop mid-stream", {"mode": "drop", "tokens": 20}, "upstream_error", "partial"),
    (
        "gap past the idle timeout",
        {"mode": "slow", "first_token_ms": 0, "token_ms": 3000},
        "timeout",
        "partial",
    ),
]


@pytest.mark.parametrize(
    ("mode", "expected_code", "expected_status"),
    [f[1:] for f in FAULTS],
    ids=[f[0] for f in FAULTS],
)
async def test_every_fault_ends_with_error_then_done(
    coach_client: httpx.AsyncClient,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    mode: dict[str, Any],
    expected_code: str,
    expected_status: str,
) -> None:
    await sim.set_mode(**mode, retry_after_ms=10)
    result = await chat(coach_client, runner)
    names = [event.event for event in result.events]
    assert names[0] == "meta"
    assert names[-2:] == ["error", "done"], names
    error = result.of("error")[0].data
    assert error["code"] == expected_code
    assert isinstance(error["retryable"], bool) and error["message"]
    assert result.events[-1].data["status"] == expected_status
    rows = await _assistant_rows(pg_pool)
    assert rows[-1]["status"] == expected_status
    assert rows[-1]["content"] == result.text
    assert rows[-1]["error_code"] == expected_code
    if expected_status == "partial":
        # Tokens had flowed: no silent switch to another provider.
        assert result.events[0].data["model"] == "CLAUDE_HAIKU"
        assert await pg_pool.fetchval("SELECT count(*) FROM llm_usage") == 1


async def test_the_whole_reply_is_bounded_by_the_stream_timeout(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=300, tokens=100)
    async with start_coach(COACH_STREAM_TIMEOUT_SECONDS=1.5) as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
            started = asyncio.get_running_loop().time()
            result = await chat(http, runner)
            took = asyncio.get_running_loop().time() - started
    assert result.of("error")[0].data["code"] == "timeout"
    assert result.events[-1].event == "done"
    assert result.text, "some text arrived before the deadline"
    assert took < 1.5 + 1.0
    rows = await _assistant_rows(pg_pool)
    assert rows[-1]["status"] == "partial" and rows[-1]["content"] == result.text


async def test_a_disconnect_no_longer_stops_the_reply_which_is_stored_whole(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    # Changed on purpose with the reply log (issue 11): a dropped client does not
    # cancel the upstream call any more, so that it can resume; the cancel route
    # does (tests/coach/test_reply_log.py keeps the old cancellation checks).
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=20, tokens=100)
    # The client drops after two deltas.
    events = await post_until(coach_client, runner, deltas=2, message="Plan my week")
    row = await stored(pg_pool, events[0].data["message_id"])
    assert row["status"] == "complete"
    assert row["error_code"] is None
    assert row["content"].startswith(text_of(events))
    assert (await sim.stats())["disconnected"] == 0
    usage = await pg_pool.fetchval("SELECT outcome FROM llm_usage ORDER BY id DESC LIMIT 1")
    assert usage == "ok"


async def test_fallback_answers_when_the_primary_is_overloaded(
    start_coach: StartCoach,
    runner: Athlete,
    sim: LLMSim,
    tmp_path: Any,
    pg_pool: asyncpg.Pool,
    clean_state: None,
) -> None:
    overloaded = await start_llm_sim(tmp_path / "overloaded.log")
    try:
        await overloaded.set_mode(mode="error", status=529, retry_after_ms=10)
        async with start_coach(
            ANTHROPIC_BASE_URL=overloaded.base_url, OPENAI_BASE_URL=f"{sim.base_url}/v1"
        ) as coach:
            async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
                result = await chat(http, runner)
    finally:
        await overloaded.stop()
    assert result.events[0].data["model"] == "GPT_MINI"
    assert result.events[-1].data["status"] == "complete"
    assert not result.of("error")
    outcomes = await pg_pool.fetch(
        "SELECT model_code, outcome, fallback FROM llm_usage ORDER BY id"
    )
    assert [(r["model_code"], r["outcome"], r["fallback"]) for r in outcomes] == [
        ("CLAUDE_HAIKU", "overloaded", False),
        ("GPT_MINI", "ok", True),
    ]


async def test_idle_streams_get_keepalive_comments(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, clean_state: None
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=1200, token_ms=0, tokens=3)
    async with start_coach(SSE_PING_SECONDS=0.3) as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http:
            result = await chat(http, runner)
    assert any(comment.startswith("ping") for comment in result.comments)
    assert result.events[-1].data["status"] == "complete"


async def test_a_conversation_continues_and_is_listed(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim
) -> None:
    first = await chat(coach_client, runner, "I ran 10 km today")
    conversation_id = first.events[0].data["conversation_id"]
    second = await chat(coach_client, runner, "And tomorrow?", conversation_id=conversation_id)
    assert second.events[0].data["conversation_id"] == conversation_id
    # The history is in the prompt: the second call sends more input tokens.
    assert (
        second.events[-1].data["usage"]["input_tokens"]
        > first.events[-1].data["usage"]["input_tokens"]
    )
    listed = (await coach_client.get("/v1/coach/conversations", headers=runner.headers)).json()
    assert [item["id"] for item in listed["items"]] == [conversation_id]
    assert listed["items"][0]["message_count"] == 4
    detail = (
        await coach_client.get(f"/v1/coach/conversations/{conversation_id}", headers=runner.headers)
    ).json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant", "user", "assistant"]
    assert detail["messages"][3]["content"] == second.text


async def test_metrics_cover_llm_calls_streams_and_loop_lag(
    coach: Coach, coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim
) -> None:
    await chat(coach_client, runner)
    async with httpx.AsyncClient() as http:
        text = (await http.get(coach.metrics_url)).text
    for name in (
        "llm_call_duration_seconds_bucket",
        "llm_time_to_first_token_seconds_bucket",
        "llm_tokens_total",
        "llm_cost_usd_total",
        "coach_open_streams",
        'coach_streams_total{code="none",status="complete"}',
        "event_loop_lag_seconds",
    ):
        assert name in text, name
