"""Fallback to the other provider before the first token, against two real simulators:
the session's one plays the failing primary, a second one the healthy fallback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from fixtures.infra import free_port
from fixtures.llm_client import (
    MODELS,
    SHORT_TIMEOUTS,
    ClientFactory,
    LLMClients,
    MemorySink,
    collect,
    model_of,
    sample,
)
from fixtures.llm_sim import LLMSim, llm_sim_log, reset_around, running_llm_sim, sdk_settings
from pacer_common.llm import (
    MODEL_REGISTRY,
    ChatMessage,
    Deadline,
    LLMClient,
    LLMOverloaded,
    LLMRequest,
    LLMUpstreamError,
    ModelSpec,
    StreamEnd,
    StreamEvent,
    StreamStarted,
    TextDelta,
)
from pacer_common.llm.registry import Provider

OTHER: dict[Provider, Provider] = {"anthropic": "openai", "openai": "anthropic"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def backup_llm_sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LLMSim]:
    async with running_llm_sim(llm_sim_log(tmp_path_factory, "llm_sim_backup")) as backup:
        yield backup


@pytest_asyncio.fixture(loop_scope="session")
async def healthy(backup_llm_sim: LLMSim) -> AsyncIterator[LLMSim]:
    """The fallback's simulator, reset around each test."""
    async with reset_around(backup_llm_sim) as reset:
        yield reset


@pytest.fixture
def failing(sim: LLMSim) -> LLMSim:
    """The primary's simulator (each test sets how it fails)."""
    return sim


@pytest.fixture(params=sorted(MODELS))
def primary(request: pytest.FixtureRequest) -> Provider:
    """Each test that takes `primary` runs with either provider failing first."""
    provider: Provider = request.param
    return provider


@pytest.fixture
def make_client(failing: LLMSim, healthy: LLMSim, llm_clients: LLMClients) -> ClientFactory:
    """``make_client(primary)``: ``primary`` points at the failing simulator (or at
    ``primary_url``), the other provider at the healthy one."""

    def make(primary: Provider, primary_url: str | None = None, **overrides: Any) -> LLMClient:
        urls = {primary: primary_url or failing.base_url, OTHER[primary]: healthy.base_url}
        return llm_clients(
            **{
                **sdk_settings(urls["anthropic"], urls["openai"]),
                "LLM_FALLBACK_ORDER": "CLAUDE_HAIKU,GPT_MINI",
                **SHORT_TIMEOUTS,
                **overrides,
            }
        )

    return make


def ask(model: ModelSpec) -> LLMRequest:
    return LLMRequest(
        system="You are a running coach.",
        messages=[ChatMessage("user", "Is a tempo run wise two days before a race?")],
        max_tokens=200,
        model=model,
    )


async def events_of(client: LLMClient, request: LLMRequest) -> list[StreamEvent]:
    return (await collect(client, request)).events


def fallbacks_counted(from_provider: str, to_provider: str) -> float:
    return sample("llm_fallbacks_total", from_provider=from_provider, to_provider=to_provider)


@pytest.mark.parametrize(
    ("status", "outcome"), [(429, "overloaded"), (529, "overloaded"), (500, "upstream_error")]
)
async def test_failure_before_first_token_goes_to_the_other_provider_once(
    failing: LLMSim,
    healthy: LLMSim,
    make_client: ClientFactory,
    sink: MemorySink,
    primary: Provider,
    status: int,
    outcome: str,
) -> None:
    await failing.set_mode(mode="error", status=status, retry_after_ms=10)
    await healthy.set_mode(mode="normal", tokens=6)
    first, second = model_of(primary), model_of(OTHER[primary])
    counted_before = fallbacks_counted(primary, OTHER[primary])

    events = await events_of(make_client(primary), ask(first))

    assert events[0] == StreamStarted(model=second, fallback_used=True)
    assert len([event for event in events if isinstance(event, TextDelta)]) == 6
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert (end.model, end.output_tokens) == (second, 6)
    failed, answered = await sink.wait_for(2)
    assert (failed.model_code, failed.outcome, failed.fallback) == (first.code, outcome, False)
    assert (answered.model_code, answered.outcome, answered.fallback) == (second.code, "ok", True)
    assert fallbacks_counted(primary, OTHER[primary]) == counted_before + 1
    assert (await failing.wait_for_stats(lambda s: s["active"] == 0))["requests"] == 1
    assert (await healthy.wait_for_stats(lambda s: s["completed"] == 1))["requests"] == 1


async def test_first_token_timeout_goes_to_the_other_provider(
    failing: LLMSim, make_client: ClientFactory, sink: MemorySink, primary: Provider
) -> None:
    await failing.set_mode(mode="hang")
    client = make_client(primary, LLM_FIRST_TOKEN_TIMEOUT_SECONDS=0.5)

    events = await events_of(client, ask(model_of(primary)))

    started = events[0]
    assert isinstance(started, StreamStarted)
    assert started.fallback_used
    assert started.model.provider == OTHER[primary]
    await failing.wait_for_stats(lambda s: s["disconnected"] == 1 and s["active"] == 0)
    failed, answered = await sink.wait_for(2)
    assert (failed.outcome, answered.outcome) == ("timeout", "ok")


async def test_connection_refused_goes_to_the_other_provider(
    make_client: ClientFactory, sink: MemorySink, primary: Provider
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    events = await events_of(make_client(primary, closed), ask(model_of(primary)))

    assert events[0] == StreamStarted(model=model_of(OTHER[primary]), fallback_used=True)
    failed, answered = await sink.wait_for(2)
    assert (failed.outcome, answered.outcome) == ("upstream_error", "ok")


async def test_complete_falls_back_too(
    failing: LLMSim, make_client: ClientFactory, sink: MemorySink, primary: Provider
) -> None:
    await failing.set_mode(mode="error", status=529, retry_after_ms=10)

    completion = await make_client(primary).complete(
        ask(model_of(primary)),
        deadline=Deadline.after(10),
        user_id=None,
        purpose="briefing",
    )

    assert completion.fallback_used
    assert completion.model == model_of(OTHER[primary])
    assert completion.text
    assert [r.outcome for r in await sink.wait_for(2)] == ["overloaded", "ok"]


async def test_when_the_fallback_fails_too_its_error_is_raised_and_nothing_more_is_tried(
    failing: LLMSim,
    healthy: LLMSim,
    make_client: ClientFactory,
    sink: MemorySink,
    primary: Provider,
) -> None:
    await failing.set_mode(mode="error", status=529, retry_after_ms=10)
    await healthy.set_mode(mode="error", status=500)
    second = model_of(OTHER[primary])

    with pytest.raises(LLMUpstreamError) as caught:
        await events_of(make_client(primary), ask(model_of(primary)))

    assert caught.value.model == second
    assert (await failing.wait_for_stats(lambda s: s["active"] == 0))["requests"] == 1
    assert (await healthy.wait_for_stats(lambda s: s["active"] == 0))["requests"] == 1
    records = await sink.wait_for(2)
    assert [(r.outcome, r.fallback) for r in records] == [
        ("overloaded", False),
        ("upstream_error", True),
    ]


async def test_client_errors_are_not_sent_elsewhere(
    failing: LLMSim, healthy: LLMSim, make_client: ClientFactory, primary: Provider
) -> None:
    await failing.set_mode(mode="error", status=400)

    with pytest.raises(LLMUpstreamError) as caught:
        await events_of(make_client(primary), ask(model_of(primary)))

    assert not caught.value.retryable
    assert (await healthy.stats())["requests"] == 0


async def test_fallback_order_skips_models_of_the_failed_provider(
    failing: LLMSim, healthy: LLMSim, make_client: ClientFactory
) -> None:
    await failing.set_mode(mode="error", status=529, retry_after_ms=10)
    client = make_client("anthropic", LLM_FALLBACK_ORDER="CLAUDE_SONNET,GPT_4O,GPT_MINI")

    events = await events_of(client, ask(MODEL_REGISTRY["CLAUDE_HAIKU"]))

    assert events[0] == StreamStarted(model=MODEL_REGISTRY["GPT_4O"], fallback_used=True)
    assert (await failing.wait_for_stats(lambda s: s["active"] == 0))["by_model"] == {
        "claude-haiku-4-5": 1
    }


async def test_no_fallback_without_another_provider_in_the_order(
    failing: LLMSim, healthy: LLMSim, make_client: ClientFactory
) -> None:
    await failing.set_mode(mode="error", status=529, retry_after_ms=10)
    client = make_client("anthropic", LLM_FALLBACK_ORDER="CLAUDE_HAIKU,CLAUDE_SONNET")

    with pytest.raises(LLMOverloaded):
        await events_of(client, ask(MODEL_REGISTRY["CLAUDE_HAIKU"]))

    assert (await failing.wait_for_stats(lambda s: s["active"] == 0))["requests"] == 1
    assert (await healthy.stats())["requests"] == 0
