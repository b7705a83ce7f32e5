"""The control API: modes, stats and reset."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from llm_sim.drivers import AnthropicDriver, OpenAIDriver

from fixtures.llm_sim import LLMSim


@pytest_asyncio.fixture(loop_scope="session")
async def http(sim: LLMSim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        yield client


async def test_health(http: httpx.AsyncClient) -> None:
    response = await http.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_starts_in_normal_mode(sim: LLMSim) -> None:
    assert await sim.mode() == {
        "mode": "normal",
        "first_token_ms": 0,
        "token_ms": 0,
        "status": 529,
        "tokens": 20,
        "retry_after_ms": 1000,
        "text": None,
        "end_session": False,
        "tool_calls": None,
        "tool_rounds": 1,
        "tool_rounds_left": 0,
    }


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"mode": "error"}, {"status": 529}),
        ({"mode": "error", "status": 429}, {"status": 429}),
        ({"mode": "slow", "tokens": 3}, {"first_token_ms": 2000, "token_ms": 200, "tokens": 3}),
        ({"mode": "normal", "token_ms": 5}, {"first_token_ms": 0, "token_ms": 5}),
        ({"mode": "drop"}, {"tokens": 20}),
        ({"mode": "hang"}, {"mode": "hang"}),
    ],
)
async def test_set_mode_fills_defaults_and_is_read_back(
    sim: LLMSim, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    answered = await sim.set_mode(**fields)

    assert answered.items() >= {**fields, **expected}.items()
    assert await sim.mode() == answered


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b"{}",
        b'{"mode": "sideways"}',
        b'{"mode": "slow", "first_token_ms": -1}',
        b'{"mode": "error", "status": 200}',
        b'{"mode": "normal", "tokens": "many"}',
        b'{"mode": "normal", "tokens": true}',
        b'{"mode": "normal", "tokenz": 3}',
        b'{"mode": "normal", "text": ""}',
        b'{"mode": "normal", "text": 7}',
        b'{"mode": "normal", "end_session": "yes"}',
    ],
)
async def test_bad_mode_body_is_a_400_and_changes_nothing(
    sim: LLMSim, http: httpx.AsyncClient, body: bytes
) -> None:
    await sim.set_mode(mode="slow")

    response = await http.post("/_sim/mode", content=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_mode"
    assert (await sim.mode())["mode"] == "slow"


async def test_stats_count_by_endpoint_and_model(
    sim: LLMSim, anthropic_driver: AnthropicDriver, openai_driver: OpenAIDriver
) -> None:
    await anthropic_driver.ask("one", stream=False)
    await anthropic_driver.ask("two", stream=True)
    await openai_driver.ask("three", stream=True)

    stats = await sim.wait_for_stats(lambda s: s["active"] == 0)
    # Set when the last streamed reply wrote its first token (wall clock).
    assert isinstance(stats.pop("last_first_token_at"), float)
    # The newest request's body as sent: "three", through the OpenAI dialect.
    assert "three" in json.dumps(stats.pop("last_request")["messages"])
    # The process's CPU so far, which three answers cannot have left at zero.
    assert stats.pop("process_cpu_s") > 0
    assert stats == {
        "requests": 3,
        "by_endpoint": {"/v1/messages": 2, "/v1/chat/completions": 1},
        "by_model": {"claude-sim-1": 2, "gpt-sim-1": 1},
        "active": 0,
        "completed": 3,
        "errors": 0,
        "dropped": 0,
        "disconnected": 0,
        # Two streams of 20 tokens at token_ms 0: each stream's tokens all due at once.
        "stream_tokens": 40,
        "stream_writes": 2,
    }


async def test_reset_restores_normal_mode_and_zeroes_stats(
    sim: LLMSim, openai_driver: OpenAIDriver
) -> None:
    await openai_driver.ask("count me", stream=False)
    await sim.set_mode(mode="error", status=500)

    await sim.reset()

    assert (await sim.mode())["mode"] == "normal"
    stats = await sim.stats()
    assert stats["requests"] == 0
    assert stats["by_model"] == {}
    assert (await openai_driver.ask("works again", stream=False)).output_tokens == 20


async def test_requests_in_flight_at_reset_do_not_leak_into_new_stats(
    sim: LLMSim, anthropic_driver: AnthropicDriver
) -> None:
    await sim.set_mode(mode="hang")
    call = asyncio.create_task(anthropic_driver.ask("Still there?", stream=False))
    await sim.wait_for_stats(lambda s: s["active"] == 1)

    await sim.reset()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    answer = await anthropic_driver.ask("Fresh start", stream=False)

    assert answer.output_tokens == 20
    stats = await sim.wait_for_stats(lambda s: s["active"] == 0)
    assert (stats["requests"], stats["completed"], stats["disconnected"]) == (1, 1, 0)


async def test_stats_ignore_control_and_health_requests(
    sim: LLMSim, http: httpx.AsyncClient
) -> None:
    await http.get("/health")
    await http.get("/_sim/mode")

    assert (await sim.stats())["requests"] == 0


async def test_process_cpu_grows_with_work_and_survives_reset(
    sim: LLMSim, openai_driver: OpenAIDriver
) -> None:
    before = (await sim.stats())["process_cpu_s"]
    await sim.set_mode(mode="normal", tokens=200)
    await asyncio.gather(*(openai_driver.ask(f"busy {n}", stream=True) for n in range(3)))

    after = (await sim.stats())["process_cpu_s"]
    await sim.reset()

    assert after > before
    assert (await sim.stats())["process_cpu_s"] >= after


async def test_stream_counters_show_one_write_per_token_when_on_time(
    sim: LLMSim, anthropic_driver: AnthropicDriver
) -> None:
    await sim.set_mode(mode="normal", token_ms=100, tokens=5)

    tokens = [token async for token in anthropic_driver.tokens("Pace me")]

    stats = await sim.wait_for_stats(lambda s: s["active"] == 0)
    assert len(tokens) == 5
    assert (stats["stream_tokens"], stats["stream_writes"]) == (5, 5)
