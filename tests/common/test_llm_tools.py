"""Tool calls through the LLM layer: the real SDKs over HTTP to the simulator, both
dialects, both stream paths (raw and typed), in the simulator's modes; the tool
results quoted back; truncated arguments never passed off as {}."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import anthropic
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
from pacer_common.llm.providers.anthropic import AnthropicProvider
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
# Both providers, so a round that fails on the first is tried on the other.
FALLBACK = "CLAUDE_HAIKU,GPT_MINI"
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


async def tool_round(
    sim: LLMSim,
    llm_clients: LLMClients,
    provider: Provider,
    raw: bool,
    *,
    fallback: str = "",
    max_tokens: int = 200,
    **mode: Any,
) -> tuple[list[StreamEvent], LLMError | None]:
    """One round offering TOOLS against the simulator in ``mode`` (which plays CALLS)."""
    await sim.set_mode(**mode, tool_calls=CALLS)
    client = client_for(sim, llm_clients, raw, fallback)
    return await events_of(client, ask(provider, max_tokens=max_tokens))


@PATHS
@PROVIDERS
async def test_a_tool_round_yields_each_call_whole_then_the_end(
    sim: LLMSim, llm_clients: LLMClients, sink: MemorySink, provider: Provider, raw: bool
) -> None:
    seen, error = await tool_round(sim, llm_clients, provider, raw, mode="normal")

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
    seen, error = await tool_round(sim, llm_clients, provider, raw, mode="normal", max_tokens=2)

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
    seen, error = await tool_round(
        sim,
        llm_clients,
        provider,
        raw,
        fallback=FALLBACK,
        mode="slow",
        first_token_ms=0,
        token_ms=1500,
    )

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
    seen, error = await tool_round(sim, llm_clients, provider, raw, fallback=FALLBACK, mode="drop")

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
    seen, error = await tool_round(
        sim, llm_clients, provider, raw, fallback=FALLBACK, mode="error", status=529
    )

    assert seen == [] and error is not None and error.code == "overloaded"
    stats = await sim.stats()
    assert stats["requests"] == 2 and set(stats["by_endpoint"].values()) == {1}
    assert (await sim.mode())["tool_rounds_left"] == 1


@PATHS
@PROVIDERS
async def test_a_hang_before_the_call_is_a_first_token_timeout(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider, raw: bool
) -> None:
    seen, error = await tool_round(sim, llm_clients, provider, raw, mode="hang")

    assert seen == [] and error is not None and error.code == "timeout"
    assert "first_token" in error.detail


@PROVIDERS
async def test_tool_choice_none_answers_in_words(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider
) -> None:
    """A caller at its step limit keeps offering the tools but forbids them."""
    await sim.set_mode(mode="normal", tool_calls=CALLS)
    client = client_for(sim, llm_clients, raw=True)
    request = dataclasses.replace(ask(provider), tool_choice="none")

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
# Each call's (id, arguments, part of its arguments_error).
EXPECTED: dict[str, list[tuple[str, dict[str, Any] | None, str | None]]] = {
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
    seen, error = await fake_round("openai", body, raw)

    assert error is None
    calls = [event for event in seen if isinstance(event, ToolCall)]
    got = [(c.call_id, c.arguments, c.arguments_error) for c in calls]
    for (call_id, arguments, problem), (want_id, want_arguments, want_problem) in zip(
        got, EXPECTED[wire], strict=True
    ):
        assert (call_id, arguments) == (want_id, want_arguments)
        assert (problem is None) if want_problem is None else (want_problem in (problem or ""))


async def fake_round(
    provider: Provider, body: bytes, raw: bool
) -> tuple[list[StreamEvent], LLMError | None]:
    """One round against a server that sends ``body``, whatever is asked."""
    client = _fake_client(provider, body, raw)
    try:
        return await events_of(client, ask(provider))
    finally:
        await client.aclose()


def _fake_client(provider: Provider, body: bytes, raw: bool) -> LLMClient:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    sdk: AnthropicProvider | OpenAIProvider
    if provider == "anthropic":
        sdk = AnthropicProvider(
            anthropic.AsyncAnthropic(
                api_key="k", base_url="http://fake", max_retries=0, http_client=http
            ),
            raw_stream=raw,
        )
    else:
        sdk = OpenAIProvider(
            openai.AsyncOpenAI(
                api_key="k", base_url="http://fake/v1", max_retries=0, http_client=http
            ),
            raw_stream=raw,
        )
    model = model_of(provider)
    limits = AttemptLimits(first_token_s=2, idle_s=2, connect_s=2, sdk_s=5)
    return LLMClient({provider: sdk}, ClientConfig(model, model, (), limits))


def _anthropic(*events: dict[str, Any]) -> bytes:
    return b"".join(
        f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode() for event in events
    )


START = {
    "type": "message_start",
    "message": {
        "id": "m",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    },
}
TEXT_BLOCK = {
    "type": "content_block_start",
    "index": 0,
    "content_block": {"type": "text", "text": ""},
}
TOOL_BLOCK = {
    "type": "content_block_start",
    "index": 1,
    "content_block": {
        "type": "tool_use",
        "id": "toolu_1",
        "name": "recent_activities",
        "input": {},
    },
}


def _delta(index: int, **delta: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


@PATHS
async def test_anthropic_text_then_a_tool_call_yields_the_text_then_the_call(raw: bool) -> None:
    body = _anthropic(
        START,
        TEXT_BLOCK,
        _delta(0, type="text_delta", text="Let me look. "),
        _stop(0),
        TOOL_BLOCK,
        _delta(1, type="input_json_delta", partial_json='{"days"'),
        _delta(1, type="input_json_delta", partial_json=": 28}"),
        _stop(1),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 9},
        },
        {"type": "message_stop"},
    )
    seen, error = await fake_round("anthropic", body, raw)

    assert error is None
    assert [type(event) for event in seen] == [StreamStarted, TextDelta, ToolCall, StreamEnd]
    call = seen[2]
    assert isinstance(call, ToolCall)
    assert (call.call_id, call.name, call.arguments) == (
        "toolu_1",
        "recent_activities",
        {"days": 28},
    )
    end = seen[3]
    assert isinstance(end, StreamEnd) and (end.output_tokens, end.finish_reason) == (9, "tool_use")


@PATHS
async def test_anthropic_error_event_mid_call_raises_and_hands_out_no_call(raw: bool) -> None:
    error_event = {"type": "error", "error": {"type": "overloaded_error", "message": "x"}}
    body = _anthropic(
        START, TOOL_BLOCK, _delta(1, type="input_json_delta", partial_json='{"da'), error_event
    )
    seen, error = await fake_round("anthropic", body, raw)

    assert [type(event) for event in seen] == [StreamStarted]
    assert error is not None and error.code == "overloaded"
