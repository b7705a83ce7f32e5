"""Every fault mode through both SDKs: what the caller sees and what the stats record."""

from __future__ import annotations

import asyncio
import time

import anthropic
import openai
import pytest
from llm_sim.drivers import Driver, OpenAIDriver

from fixtures.llm_sim import LLMSim


async def test_slow_stream_delays_first_token(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="slow", first_token_ms=300, token_ms=40, tokens=5)

    started = time.monotonic()
    arrivals = [time.monotonic() - started async for _ in driver.tokens("Take your time")]

    assert len(arrivals) == 5
    # Lower bounds only: a busy machine may be slower, never faster.
    assert arrivals[0] >= 0.3
    assert arrivals[-1] >= 0.3 + 4 * 0.04


async def test_slow_whole_answer_waits_for_every_token(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="slow", first_token_ms=200, token_ms=30, tokens=5)

    started = time.monotonic()
    answer = await driver.ask("Take your time", stream=False)

    assert time.monotonic() - started >= 0.2 + 5 * 0.03
    assert answer.output_tokens == 5


async def test_slow_mode_defaults(sim: LLMSim) -> None:
    mode = await sim.set_mode(mode="slow")

    assert (mode["first_token_ms"], mode["token_ms"]) == (2000, 200)


async def test_hang_times_out_and_counts_the_disconnect(
    sim: LLMSim, driver: Driver, stream: bool
) -> None:
    await sim.set_mode(mode="hang")

    with pytest.raises(driver.timeout_error):
        await driver.ask("Hello?", stream=stream, timeout=0.3)

    stats = await sim.wait_for_stats(lambda s: s["disconnected"] == 1 and s["active"] == 0)
    assert stats["requests"] == 1
    assert stats["completed"] == 0


async def test_hang_counts_active_until_the_caller_cancels(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="hang")
    call = asyncio.create_task(driver.ask("Hello?", stream=True))

    await sim.wait_for_stats(lambda s: s["active"] == 1)
    assert not call.done()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    await sim.wait_for_stats(lambda s: s["active"] == 0 and s["disconnected"] == 1)


async def test_closing_a_stream_midway_counts_as_disconnected(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=100, tokens=100)

    tokens = driver.tokens("Go on")
    first = await anext(tokens)
    await tokens.aclose()  # closes the SDK stream, as a coach does when its user leaves

    assert first.strip()
    stats = await sim.wait_for_stats(lambda s: s["disconnected"] == 1 and s["active"] == 0)
    assert stats["completed"] == 0


async def test_stalled_stream_hits_the_read_timeout(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=5000, tokens=3)
    received: list[str] = []

    with pytest.raises(driver.stream_timeout_error):
        async for token in driver.tokens("And then?", timeout=0.3):
            received.append(token)

    assert len(received) == 1
    await sim.wait_for_stats(lambda s: s["disconnected"] == 1 and s["active"] == 0)


@pytest.mark.parametrize("status", [429, 500, 503, 529])
async def test_error_mode_raises_the_sdk_status_error(
    sim: LLMSim, driver: Driver, stream: bool, status: int
) -> None:
    await sim.set_mode(mode="error", status=status)

    with pytest.raises(driver.status_errors[status]) as caught:
        await driver.ask("Anyone there?", stream=stream)

    error = caught.value
    assert getattr(error, "status_code", None) == status
    assert "(simulated)" in str(error)
    stats = await sim.wait_for_stats(lambda s: s["errors"] == 1 and s["active"] == 0)
    assert stats["by_model"] == {driver.model: 1}


@pytest.mark.parametrize(("status", "backoff"), [(429, True), (529, True), (500, False)])
async def test_error_mode_asks_for_backoff_where_providers_do(
    sim: LLMSim, driver: Driver, status: int, backoff: bool
) -> None:
    await sim.set_mode(mode="error", status=status, retry_after_ms=1500)

    with pytest.raises(driver.status_errors[status]) as caught:
        await driver.ask("Anyone there?", stream=False)

    error = caught.value
    assert isinstance(error, anthropic.APIStatusError | openai.APIStatusError)
    headers = error.response.headers
    if backoff:
        assert (headers["retry-after"], headers["retry-after-ms"]) == ("2", "1500")
    else:
        assert "retry-after" not in headers


async def test_error_body_is_parsed_by_the_sdk(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="error", status=529)

    with pytest.raises(driver.status_errors[529]) as caught:
        await driver.ask("Anyone there?", stream=False)

    error = caught.value
    if isinstance(driver, OpenAIDriver):
        assert isinstance(error, openai.APIStatusError) and isinstance(error.body, dict)
        assert (error.type, error.code) == ("server_error", None)
        assert error.body["message"].startswith("The engine is currently overloaded")
    else:
        assert isinstance(error, anthropic.APIStatusError)
        assert error.type == "overloaded_error"
        assert error.api_message == "Overloaded (simulated)"


async def test_sdk_retries_honour_retry_after_ms(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="error", status=529, retry_after_ms=10)
    retrying = type(driver)(sim.base_url, max_retries=2)
    try:
        with pytest.raises(driver.status_errors[529]):
            await retrying.ask("Again?", stream=False)
    finally:
        await retrying.aclose()

    stats = await sim.wait_for_stats(lambda s: s["active"] == 0)
    assert stats["requests"] == 3
    assert stats["errors"] == 3


async def test_drop_cuts_the_stream_halfway(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="drop", tokens=10)
    received: list[str] = []

    with pytest.raises(driver.stream_cut_error):
        async for token in driver.tokens("Tell me"):
            received.append(token)

    assert len(received) == 5
    stats = await sim.wait_for_stats(lambda s: s["dropped"] == 1 and s["active"] == 0)
    assert stats["completed"] == 0


async def test_drop_cuts_a_whole_answer(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="drop")

    with pytest.raises(driver.connection_error) as caught:
        await driver.ask("Tell me", stream=False)

    assert "incomplete" in repr(caught.value.__cause__) or "expected" in repr(
        caught.value.__cause__
    )
    await sim.wait_for_stats(lambda s: s["dropped"] == 1 and s["active"] == 0)


async def test_mode_applies_to_the_following_requests_only(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=50, tokens=6)
    tokens = driver.tokens("Slow one")
    first = await anext(tokens)
    await sim.set_mode(mode="error", status=500)

    rest = [token async for token in tokens]

    assert first.strip()
    assert len(rest) == 5
    with pytest.raises(driver.status_errors[500]):
        await driver.ask("Next one", stream=False)
