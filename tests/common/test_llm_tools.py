"""Tool calls through the LLM layer: the real SDKs over HTTP to the simulator, both
dialects, both stream paths (raw and typed), in the simulator's modes; the tool
results quoted back; truncated arguments never passed off as {}."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest

from fixtures.llm_client import MODELS, SHORT_TIMEOUTS, LLMClients, MemorySink, model_of
from fixtures.llm_sim import LLMSim, sdk_settings
from pacer_common.llm import (
    ChatMessage,
    Deadline,
    LLMClient,
    LLMError,
    LLMRequest,
    StreamEnd,
    StreamEvent,
    StreamStarted,
    TextDelta,
    ToolCall,
    ToolCallTurn,
    ToolResult,
    ToolResultTurn,
    ToolSpec,
)
from pacer_common.llm.client import ClientConfig
from pacer_common.llm.clock import AttemptLimits
from pacer_common.llm.providers.openai import OpenAIProvider
from pacer_common.llm.registry import Provider

DAYS: dict[str, Any] = {
    "type": "object",
    "properties": {"days": {"type": "integer", "minimum": 1, "maximum": 90}},
    "required": ["days"],
}
TOOLS = (
    ToolSpec("recent_activities", "The athlete's activities of the last days.", DAYS),
    ToolSpec("race_goal", "The athlete's race goal.", {"type": "object", "properties": {}}),
)
CALLS: list[dict[str, Any]] = [
    {"name": "recent_activities", "arguments": {"days": 28, "note": "felt heavy on the hills"}},
    {"name": "race_goal", "arguments": {}},
]
TIMEOUTS = {
    **SHORT_TIMEOUTS,
    "LLM_FIRST_TOKEN_TIMEOUT_SECONDS": 0.8,
    "LLM_IDLE_TIMEOUT_SECONDS": 0.8,
}
RESULT = json.dumps({"activities": [{"sport": "run", "distance_m": 10000, "duration_s": 3120}]})
PATHS = pytest.mark.parametrize("raw", [True, False], ids=["raw", "typed"])
PROVIDERS = pytest.mark.parametrize("provider", sorted(MODELS))


def ask(provider: Provider, *more: Any, max_tokens: int = 200) -> LLMRequest:
    return LLMRequest(
        system="You are a running coach.",
        messages=[ChatMessage("user", "How did my month go?"), *more],
        max_tokens=max_tokens,
        model=model_of(provider),
        tools=TOOLS,
    )


def client_for(sim: LLMSim, llm_clients: LLMClients, raw: bool, fallback: str = "") -> LLMClient:
    return llm_clients(
        **sdk_settings(sim.base_url), LLM_FALLBACK_ORDER=fallback, LLM_RAW_STREAM=raw, **TIMEOUTS
    )


async def events_of(
    client: LLMClient, request: LLMRequest
) -> tuple[list[StreamEvent], LLMError | None]:
    seen: list[StreamEvent] = []
    try:
        async for event in client.stream(
            request, deadline=Deadline.after(10), user_id=None, purpose="test"
        ):
            seen.append(event)
    except LLMError as error:
        return seen, error
    return seen, None


@PATHS
@PROVIDERS
async def test_a_tool_round_yields_each_call_whole_then_the_end(
    sim: LLMSim, llm_clients: LLMClients, sink: MemorySink, provider: Provider, raw: bool
) -> None:
    await sim.set_mode(mode="normal", tool_calls=CALLS)
    client = client_for(sim, llm_clients, raw)

    seen, error = await events_of(client, ask(provider))

    assert error is None
    assert isinstance(seen[0], StreamStarted) and not seen[0].fallback_used
    calls = [event for event in seen if isinstance(event, ToolCall)]
    assert [(c.name, c.arguments, c.arguments_error) for c in calls] == [
        ("recent_activities", CALLS[0]["arguments"], None),
        ("race_goal", {}, None),
    ]
    assert json.loads(calls[0].arguments_text) == CALLS[0]["arguments"]
    assert len({c.call_id for c in calls}) == 2 and all(c.call_id for c in calls)
    assert not any(isinstance(event, TextDelta) for event in seen)
    end = seen[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "tool_use"
    assert end.ttft_ms is not None and end.output_tokens > 2
    [record] = await sink.wait_for(1)
    assert record.outcome == "ok"
    offered = (await sim.stats())["last_request"]["tools"]
    names = [tool.get("name") or tool["function"]["name"] for tool in offered]
    assert names == ["recent_activities", "race_goal"]


@PATHS
@PROVIDERS
async def test_the_results_reach_the_model(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider, raw: bool
) -> None:
    await sim.set_mode(mode="normal", tool_calls=CALLS)
    client = client_for(sim, llm_clients, raw)
    seen, _ = await events_of(client, ask(provider))
    calls = tuple(event for event in seen if isinstance(event, ToolCall))
    results = ToolResultTurn(
        (
            ToolResult(calls[0].call_id, RESULT),
            ToolResult(calls[1].call_id, "error: no race goal set", is_error=True),
        )
    )

    seen, error = await events_of(client, ask(provider, ToolCallTurn("", calls), results))

    assert error is None
    text = "".join(event.text for event in seen if isinstance(event, TextDelta))
    assert text.startswith(f"Result of recent_activities: «{RESULT[:40]}")
    goal = "Error from race_goal" if provider == "anthropic" else "Result of race_goal"
    assert f"{goal}: «error: no race goal set» " in text
    end = seen[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "stop"


@PATHS
@PROVIDERS
async def test_truncated_arguments_are_an_error_never_an_empty_object(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider, raw: bool
) -> None:
    await sim.set_mode(mode="normal", tool_calls=CALLS)
    client = client_for(sim, llm_clients, raw)

    seen, error = await events_of(client, ask(provider, max_tokens=2))

    assert error is None
    [call] = [event for event in seen if isinstance(event, ToolCall)]
    assert call.name == "recent_activities" and call.arguments is None
    assert call.arguments_error is not None and "cut off at max_tokens" in call.arguments_error
    assert json.dumps(CALLS[0]["arguments"]).startswith(call.arguments_text)
    end = seen[-1]
    assert isinstance(end, StreamEnd) and end.finish_reason == "length"


@PATHS
@PROVIDERS
async def test_a_stall_mid_call_is_an_idle_timeout_and_no_fallback(
    sim: LLMSim, llm_clients: LLMClients, sink: MemorySink, provider: Provider, raw: bool
) -> None:
    """The call's opening was the first token: a fallback would call tools anew."""
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=1500, tool_calls=CALLS)
    client = client_for(sim, llm_clients, raw, fallback="CLAUDE_HAIKU,GPT_MINI")

    seen, error = await events_of(client, ask(provider))

    assert error is not None and error.code == "timeout" and "idle" in error.detail
    assert [type(event) for event in seen] == [StreamStarted]
    [record] = await sink.wait_for(1)
    assert record.outcome == "timeout" and record.ttft_ms is not None
    assert (await sim.stats())["requests"] == 1


@PATHS
@PROVIDERS
async def test_a_stream_dropped_mid_call_raises_and_hands_out_no_call(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider, raw: bool
) -> None:
    await sim.set_mode(mode="drop", tool_calls=CALLS)
    client = client_for(sim, llm_clients, raw, fallback="CLAUDE_HAIKU,GPT_MINI")

    seen, error = await events_of(client, ask(provider))

    assert error is not None and error.code == "upstream_error"
    assert [type(event) for event in seen] == [StreamStarted]
    assert (await sim.stats())["requests"] == 1


@PATHS
@PROVIDERS
async def test_an_error_before_the_call_falls_back_like_any_round(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider, raw: bool
) -> None:
    """Overloaded before any output: nothing was called yet, so another provider may answer
    (the simulator plays the error to both: the fallback's error is what is raised)."""
    await sim.set_mode(mode="error", status=529, tool_calls=CALLS)
    client = client_for(sim, llm_clients, raw, fallback="CLAUDE_HAIKU,GPT_MINI")

    seen, error = await events_of(client, ask(provider))

    assert seen == [] and error is not None and error.code == "overloaded"
    stats = await sim.stats()
    assert stats["requests"] == 2 and set(stats["by_endpoint"].values()) == {1}
    assert (await sim.mode())["tool_rounds_left"] == 1


@PATHS
@PROVIDERS
async def test_a_hang_before_the_call_is_a_first_token_timeout(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider, raw: bool
) -> None:
    await sim.set_mode(mode="hang", tool_calls=CALLS)
    client = client_for(sim, llm_clients, raw)

    seen, error = await events_of(client, ask(provider))

    assert seen == [] and error is not None and error.code == "timeout"
    assert "first_token" in error.detail


@PROVIDERS
async def test_tool_choice_none_answers_in_words(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider
) -> None:
    """A caller at its step limit keeps offering the tools but forbids them."""
    await sim.set_mode(mode="normal", tool_calls=CALLS)
    client = client_for(sim, llm_clients, raw=True)
    request = ask(provider)
    request = LLMRequest(
        system=request.system,
        messages=request.messages,
        max_tokens=request.max_tokens,
        model=request.model,
        tools=TOOLS,
        tool_choice="none",
    )

    seen, error = await events_of(client, request)

    assert error is None and any(isinstance(event, TextDelta) for event in seen)
    assert not any(isinstance(event, ToolCall) for event in seen)
    sent = (await sim.stats())["last_request"]["tool_choice"]
    assert sent == ({"type": "none"} if provider == "anthropic" else "none")


# -- a fake wire: what OpenAI-compatible servers send that the simulator does not --


def _chunk(tool_calls: list[dict[str, Any]] | None = None, finish: str | None = None) -> str:
    delta: dict[str, Any] = {"tool_calls": tool_calls} if tool_calls else {}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [choice],
        }
    )


def _opening(index: int, call_id: str, name: str) -> dict[str, Any]:
    function = {"name": name, "arguments": ""}
    return {"index": index, "id": call_id, "type": "function", "function": function}


def _fragment(index: int, text: str) -> dict[str, Any]:
    return {"index": index, "function": {"arguments": text}}


# openai-python #3201: every call under index 0; #3203: indexes that skip (1, 3).
WIRES = {
    "repeated_index": [
        _chunk([_opening(0, "call_a", "recent_activities")]),
        _chunk([_fragment(0, '{"days":')]),
        _chunk([_fragment(0, " 28}")]),
        _chunk([_opening(0, "call_b", "race_goal")]),
        _chunk([_fragment(0, "{}")]),
        _chunk(finish="tool_calls"),
    ],
    "skipped_index": [
        _chunk([_opening(1, "call_a", "recent_activities")]),
        _chunk([_fragment(1, '{"days": 28}')]),
        _chunk([_opening(3, "call_b", "race_goal"), _fragment(1, "")]),
        _chunk([_fragment(3, "{}")]),
        _chunk(finish="tool_calls"),
    ],
    "malformed": [
        _chunk([_opening(0, "call_a", "recent_activities")]),
        _chunk([_fragment(0, '{"days": 28,}')]),
        _chunk([_opening(1, "call_b", "race_goal"), _fragment(1, "[1]")]),
        _chunk(finish="tool_calls"),
    ],
}
EXPECTED = {
    "repeated_index": [("call_a", {"days": 28}, None), ("call_b", {}, None)],
    "skipped_index": [("call_a", {"days": 28}, None), ("call_b", {}, None)],
    "malformed": [("call_a", None, "not valid JSON"), ("call_b", None, "not an object")],
}


@PATHS
@pytest.mark.parametrize("wire", sorted(WIRES))
async def test_openai_deltas_are_assembled_by_id_and_index_whatever_the_server_numbers(
    wire: str, raw: bool
) -> None:
    body = "".join(f"data: {chunk}\n\n" for chunk in [*WIRES[wire], "[DONE]"]).encode()

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    provider = OpenAIProvider(
        openai.AsyncOpenAI(api_key="k", base_url="http://fake/v1", max_retries=0, http_client=http),
        raw_stream=raw,
    )
    model = model_of("openai")
    limits = AttemptLimits(first_token_s=2, idle_s=2, connect_s=2, sdk_s=5)
    client = LLMClient({"openai": provider}, ClientConfig(model, model, (), limits))

    seen, error = await events_of(client, ask("openai"))
    await client.aclose()

    assert error is None
    calls = [event for event in seen if isinstance(event, ToolCall)]
    got = [(c.call_id, c.arguments, c.arguments_error) for c in calls]
    for (call_id, arguments, problem), (want_id, want_arguments, want_problem) in zip(
        got, EXPECTED[wire], strict=True
    ):
        assert (call_id, arguments) == (want_id, want_arguments)
        assert (problem is None) if want_problem is None else (want_problem in (problem or ""))
