"""LLMClient against the real simulator, through the real SDKs, once per provider:
normal answers, every deadline, a dropped stream and a consumer that goes away."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from fixtures.llm_client import (
    MODELS,
    SHORT_TIMEOUTS,
    ClientFactory,
    Collected,
    LLMClients,
    MemorySink,
    collect,
    model_of,
    sample,
)
from fixtures.llm_sim import LLMSim, sdk_settings
from pacer_common.llm import (
    ChatMessage,
    Deadline,
    LLMClient,
    LLMError,
    LLMRequest,
    LLMTimeout,
    LLMUpstreamError,
    ModelSpec,
    StreamEnd,
    StreamStarted,
    TextDelta,
    UsageRecord,
)

# How late past a deadline a call may end: scheduling, closing the connection.
MARGIN_S = 0.5
SYSTEM = "You are a patient running coach."
QUESTION = "How should I pace my long run?"
PROMPT_WORDS = len(SYSTEM.split()) + len(QUESTION.split())  # the simulator's input tokens


@pytest.fixture
def make_client(sim: LLMSim, llm_clients: LLMClients) -> ClientFactory:
    """``make_client(LLM_IDLE_TIMEOUT_SECONDS=0.4)``: both providers on the session's
    simulator, no SDK retries and no fallback unless a test asks for them."""

    def make(**overrides: Any) -> LLMClient:
        return llm_clients(
            **{
                **sdk_settings(sim.base_url),
                "LLM_FALLBACK_ORDER": "",
                **SHORT_TIMEOUTS,
                **overrides,
            }
        )

    return make


@pytest.fixture(params=sorted(MODELS))
def model(request: pytest.FixtureRequest) -> ModelSpec:
    """Each test that takes `model` runs once per provider."""
    return model_of(request.param)


def ask(model: ModelSpec, max_tokens: int = 200) -> LLMRequest:
    return LLMRequest(
        system=SYSTEM,
        messages=[ChatMessage("user", QUESTION)],
        max_tokens=max_tokens,
        model=model,
    )


async def test_stream_reports_model_text_usage_and_cost(
    sim: LLMSim, make_client: ClientFactory, sink: MemorySink, model: ModelSpec
) -> None:
    await sim.set_mode(mode="normal", tokens=12)
    client = make_client()
    user_id = uuid4()
    labels = {"provider": model.provider, "model": model.model_id}
    calls_before = sample("llm_calls_total", **labels, outcome="ok")
    output_before = sample("llm_tokens_total", **labels, direction="output")
    cost_before = sample("llm_cost_usd_total", **labels)
    ttft_before = sample("llm_time_to_first_token_seconds_count", **labels)

    events = [
        event
        async for event in client.stream(
            ask(model), deadline=Deadline.after(10), user_id=user_id, purpose="coach_chat"
        )
    ]

    assert events[0] == StreamStarted(model=model, fallback_used=False)
    deltas = events[1:-1]
    assert len(deltas) == 12
    assert all(isinstance(delta, TextDelta) and delta.text.strip() for delta in deltas)
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.model, end.input_tokens, end.output_tokens) == (model, PROMPT_WORDS, 12)
    assert end.finish_reason == "stop"
    assert end.ttft_ms is not None
    assert 0 <= end.ttft_ms <= end.duration_ms

    [record] = await sink.wait_for(1)
    expected_cost = (
        model.input_usd_per_mtok * PROMPT_WORDS + model.output_usd_per_mtok * 12
    ) / Decimal(1_000_000)
    assert record == UsageRecord(
        user_id=user_id,
        purpose="coach_chat",
        provider=model.provider,
        model_code=model.code,
        model_id=model.model_id,
        input_tokens=PROMPT_WORDS,
        output_tokens=12,
        cost_usd=expected_cost,
        ttft_ms=record.ttft_ms,
        duration_ms=record.duration_ms,
        outcome="ok",
        fallback=False,
    )
    assert record.ttft_ms is not None
    assert record.ttft_ms <= record.duration_ms
    assert sample("llm_calls_total", **labels, outcome="ok") == calls_before + 1
    assert sample("llm_tokens_total", **labels, direction="output") == output_before + 12
    assert sample("llm_cost_usd_total", **labels) == pytest.approx(
        cost_before + float(expected_cost)
    )
    assert sample("llm_time_to_first_token_seconds_count", **labels) == ttft_before + 1
    stats = await sim.wait_for_stats(lambda s: s["completed"] == 1 and s["active"] == 0)
    assert stats["by_model"] == {model.model_id: 1}


async def test_max_tokens_cuts_the_answer_with_finish_reason_length(
    sim: LLMSim, make_client: ClientFactory, model: ModelSpec
) -> None:
    await sim.set_mode(mode="normal", tokens=50)

    collected = await collect(make_client(), ask(model, max_tokens=3))

    end = collected.events[-1]
    assert isinstance(end, StreamEnd)
    assert (len(collected.deltas), end.output_tokens, end.finish_reason) == (3, 3, "length")


async def test_complete_returns_the_whole_answer(
    sim: LLMSim, make_client: ClientFactory, sink: MemorySink, model: ModelSpec
) -> None:
    await sim.set_mode(mode="normal", tokens=9)
    user_id = UUID(int=7)

    completion = await make_client().complete(
        ask(model), deadline=Deadline.after(10), user_id=user_id, purpose="briefing"
    )

    assert len(completion.text.split()) == 9
    assert (completion.model, completion.fallback_used) == (model, False)
    assert (completion.input_tokens, completion.output_tokens) == (PROMPT_WORDS, 9)
    assert completion.finish_reason == "stop"
    [record] = await sink.wait_for(1)
    assert (record.outcome, record.purpose, record.user_id) == ("ok", "briefing", user_id)
    assert record.ttft_ms is None  # nothing streamed
    assert record.cost_usd == model.cost_usd(PROMPT_WORDS, 9)


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "complete"])
async def test_hang_times_out_at_the_first_token_deadline(
    sim: LLMSim,
    make_client: ClientFactory,
    sink: MemorySink,
    model: ModelSpec,
    streamed: bool,
) -> None:
    await sim.set_mode(mode="hang")
    client = make_client(LLM_FIRST_TOKEN_TIMEOUT_SECONDS=0.5, LLM_SDK_MAX_RETRIES=1)

    started = time.monotonic()
    with pytest.raises(LLMTimeout) as caught:
        if streamed:
            await collect(client, ask(model))
        else:
            await client.complete(
                ask(model), deadline=Deadline.after(10), user_id=None, purpose="t"
            )

    assert 0.5 <= time.monotonic() - started <= 0.5 + MARGIN_S
    assert (caught.value.code, caught.value.retryable, caught.value.model) == (
        "timeout",
        True,
        model,
    )
    # The SDK's retry never started: the first-token deadline is ours, not the SDK's.
    stats = await sim.wait_for_stats(lambda s: s["disconnected"] == 1 and s["active"] == 0)
    assert stats["requests"] == 1
    [record] = await sink.wait_for(1)
    assert (record.outcome, record.ttft_ms, record.output_tokens) == ("timeout", None, 0)


async def test_gap_between_tokens_longer_than_idle_times_out_mid_stream(
    sim: LLMSim,
    make_client: ClientFactory,
    sink: MemorySink,
    model: ModelSpec,
) -> None:
    # The first token at once, then one every 1.5 s: the second is past the idle limit.
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=1500, tokens=5)
    client = make_client(LLM_IDLE_TIMEOUT_SECONDS=0.4)
    collected = Collected()

    started = time.monotonic()
    with pytest.raises(LLMTimeout):
        await collect(client, ask(model), into=collected)

    assert time.monotonic() - started < 1.5  # well before the second token would have come
    assert isinstance(collected.events[0], StreamStarted)
    assert len(collected.deltas) == 1
    await sim.wait_for_stats(lambda s: s["disconnected"] == 1 and s["active"] == 0)
    [record] = await sink.wait_for(1)
    assert (record.outcome, record.output_tokens) == ("timeout", 1)
    assert record.ttft_ms is not None


async def test_request_deadline_shorter_than_first_token_timeout_wins(
    sim: LLMSim,
    make_client: ClientFactory,
    sink: MemorySink,
    model: ModelSpec,
) -> None:
    await sim.set_mode(mode="hang")
    # A fallback is configured, but no budget is left for it.
    client = make_client(
        LLM_FIRST_TOKEN_TIMEOUT_SECONDS=5, LLM_FALLBACK_ORDER="CLAUDE_HAIKU,GPT_MINI"
    )

    started = time.monotonic()
    with pytest.raises(LLMTimeout):
        await collect(client, ask(model), deadline_s=0.5)

    assert 0.5 <= time.monotonic() - started <= 0.5 + MARGIN_S
    stats = await sim.wait_for_stats(lambda s: s["disconnected"] == 1 and s["active"] == 0)
    assert stats["requests"] == 1
    [record] = await sink.wait_for(1)
    assert record.outcome == "timeout"


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "complete"])
async def test_sdk_retries_share_the_request_deadline(
    sim: LLMSim,
    make_client: ClientFactory,
    model: ModelSpec,
    streamed: bool,
) -> None:
    # Left alone, 5 retries 0.4 s apart would take over 2 s.
    await sim.set_mode(mode="error", status=529, retry_after_ms=400)
    client = make_client(LLM_SDK_MAX_RETRIES=5)

    started = time.monotonic()
    with pytest.raises(LLMTimeout):
        if streamed:
            await collect(client, ask(model), deadline_s=1.0)
        else:
            await client.complete(
                ask(model), deadline=Deadline.after(1.0), user_id=None, purpose="t"
            )

    assert time.monotonic() - started <= 1.0 + MARGIN_S
    stats = await sim.wait_for_stats(lambda s: s["active"] == 0)
    assert 2 <= stats["requests"] <= 3  # the SDK did retry, within the budget only


async def test_dropped_stream_raises_after_the_text_it_sent_without_fallback(
    sim: LLMSim, make_client: ClientFactory, sink: MemorySink, model: ModelSpec
) -> None:
    await sim.set_mode(mode="drop", tokens=10)
    client = make_client(LLM_FALLBACK_ORDER="CLAUDE_HAIKU,GPT_MINI")
    collected = Collected()

    with pytest.raises(LLMUpstreamError) as caught:
        await collect(client, ask(model), into=collected)

    assert len(collected.deltas) == 5
    assert caught.value.retryable
    assert caught.value.model == model
    # Safe for a user: none of the transport's own words.
    assert caught.value.message == "The AI model failed to answer; please try again."
    stats = await sim.wait_for_stats(lambda s: s["dropped"] == 1 and s["active"] == 0)
    assert stats["requests"] == 1  # no fallback once text has been sent
    [record] = await sink.wait_for(1)
    # No usage from the provider in a cut stream: the deltas received are counted.
    assert (record.outcome, record.output_tokens, record.fallback) == ("upstream_error", 5, False)


@pytest.mark.parametrize("how", ["cancel", "aclose"])
async def test_consumer_leaving_closes_the_upstream_stream_at_once(
    sim: LLMSim, make_client: ClientFactory, sink: MemorySink, model: ModelSpec, how: str
) -> None:
    # 100 tokens 0.2 s apart: a 20 s answer if nobody stops it.
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=200, tokens=100)
    client = make_client()
    labels = {"provider": model.provider, "model": model.model_id, "outcome": "cancelled"}
    cancelled_before = sample("llm_calls_total", **labels)
    two_deltas = asyncio.Event()
    collected = Collected()

    async def consume() -> None:
        events = client.stream(ask(model), deadline=Deadline.after(30), user_id=None, purpose="t")
        async for event in events:
            collected.events.append(event)
            if len(collected.deltas) == 2:
                two_deltas.set()
                if how == "aclose":
                    # Closed at a yield: GeneratorExit, as when a caller stops iterating.
                    await events.aclose()
                    return

    consumer = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await two_deltas.wait()
    stopped_at = time.monotonic()
    if how == "cancel":
        # Cancelled in an await: CancelledError, as when the browser disconnects.
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
    else:
        await consumer

    stats = await sim.wait_for_stats(
        lambda s: s["disconnected"] == 1 and s["active"] == 0, timeout_s=2.0
    )
    assert time.monotonic() - stopped_at < 1.0  # not the 19 s the answer had left
    assert stats["completed"] == 0
    [record] = await sink.wait_for(1)
    assert record.outcome == "cancelled"
    assert 2 <= record.output_tokens <= 3
    assert sample("llm_calls_total", **labels) == cancelled_before + 1


async def test_cancelled_complete_disconnects_and_is_recorded(
    sim: LLMSim, make_client: ClientFactory, sink: MemorySink, model: ModelSpec
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=10_000, token_ms=0, tokens=5)
    client = make_client(LLM_FIRST_TOKEN_TIMEOUT_SECONDS=30)
    call = asyncio.create_task(
        client.complete(ask(model), deadline=Deadline.after(30), user_id=None, purpose="t")
    )
    await sim.wait_for_stats(lambda s: s["active"] == 1)

    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    await sim.wait_for_stats(lambda s: s["disconnected"] == 1 and s["active"] == 0, timeout_s=1.0)
    [record] = await sink.wait_for(1)
    assert (record.outcome, record.output_tokens) == ("cancelled", 0)


async def test_error_message_never_carries_the_key_or_the_upstream_body(
    sim: LLMSim, make_client: ClientFactory, model: ModelSpec
) -> None:
    await sim.set_mode(mode="error", status=401)

    with pytest.raises(LLMError) as caught:
        await collect(make_client(), ask(model))

    error = caught.value
    assert (error.code, error.retryable) == ("upstream_error", False)
    for text in (error.message, str(error)):
        assert "sk-" not in text
        assert "simulated" not in text.lower()  # the simulator's error body says "(simulated)"
