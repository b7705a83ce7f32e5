"""Tool calls and tool results in both dialects, assembled by the real SDKs over HTTP,
and every fault mode composed with them."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam, ToolParam
from llm_sim.drivers import AnthropicDriver, Driver, OpenAIDriver
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from fixtures.llm_sim import LLMSim
from pacer_llm_sim.answers import QUOTE_CHARS

CALLS: list[dict[str, Any]] = [
    {"name": "recent_activities", "arguments": {"days": 28, "sport": "run"}},
    {"name": "race_goal", "arguments": {}},
]
_DAYS: dict[str, Any] = {"type": "object", "properties": {"days": {"type": "integer"}}}
_EMPTY: dict[str, Any] = {"type": "object", "properties": {}}
ANTHROPIC_TOOLS: list[ToolParam] = [
    {"name": "recent_activities", "description": "The athlete's runs", "input_schema": _DAYS},
    {"name": "race_goal", "description": "The athlete's race", "input_schema": _EMPTY},
]
OPENAI_TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {"name": tool["name"], "parameters": dict(tool["input_schema"])},
    }
    for tool in ANTHROPIC_TOOLS
]
RESULT = json.dumps({"activities": [{"sport": "run", "distance_m": 10000, "duration_s": 3120}] * 3})


async def _calls_anthropic(
    driver: AnthropicDriver, stream: bool, **options: Any
) -> tuple[list[tuple[str, Any]], str | None, int]:
    """(name, input) of each tool_use block, the stop reason, and how many
    input_json_delta events carried them (0 when not streamed)."""
    messages: list[MessageParam] = [{"role": "user", "content": "How was my month?"}]
    request: dict[str, Any] = {
        "model": driver.model,
        "max_tokens": 1024,
        "messages": messages,
        "tools": ANTHROPIC_TOOLS,
        **options,
    }
    deltas = 0
    if stream:
        async with driver.client.messages.stream(**request) as events:
            async for event in events:
                if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    deltas += 1
            message = await events.get_final_message()
    else:
        message = await driver.client.messages.create(**request)
    calls = [(block.name, block.input) for block in message.content if block.type == "tool_use"]
    ids = [block.id for block in message.content if block.type == "tool_use"]
    assert len(set(ids)) == len(ids) and all(i.startswith("toolu_") for i in ids)
    return calls, message.stop_reason, deltas


async def _calls_openai(
    driver: OpenAIDriver, stream: bool, **options: Any
) -> tuple[list[tuple[str, Any]], str | None, int]:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "How was my month?"}]
    request: dict[str, Any] = {
        "model": driver.model,
        "messages": messages,
        "tools": OPENAI_TOOLS,
        **options,
    }
    deltas = 0
    if stream:
        async with driver.client.chat.completions.stream(**request) as events:
            async for event in events:
                # A call's opening delta carries empty arguments, as the real API's does.
                if event.type == "tool_calls.function.arguments.delta" and event.arguments_delta:
                    deltas += 1
            completion = await events.get_final_completion()
    else:
        completion = await driver.client.chat.completions.create(**request)
    choice = completion.choices[0]
    tool_calls = choice.message.tool_calls or []
    calls = []
    for call in tool_calls:
        assert call.type == "function" and call.id.startswith("call_")
        calls.append((call.function.name, json.loads(call.function.arguments)))
    return calls, choice.finish_reason, deltas


async def _calls(
    driver: Driver, stream: bool, **options: Any
) -> tuple[list[tuple[str, Any]], str | None, int]:
    if isinstance(driver, AnthropicDriver):
        return await _calls_anthropic(driver, stream, **options)
    assert isinstance(driver, OpenAIDriver)
    return await _calls_openai(driver, stream, **options)


def _expected() -> list[tuple[str, Any]]:
    return [(call["name"], call["arguments"]) for call in CALLS]


async def test_the_sdks_assemble_the_scripted_calls(
    sim: LLMSim, driver: Driver, stream: bool
) -> None:
    await sim.set_mode(mode="normal", tool_calls=CALLS)

    calls, stop, deltas = await _calls(driver, stream)

    assert calls == _expected()
    assert stop == ("tool_use" if isinstance(driver, AnthropicDriver) else "tool_calls")
    if stream:
        # {"days": 28, "sport": "run"} in four fragments, {} in one.
        assert deltas == 5


async def test_stream_carries_arguments_in_fragments_on_the_wire(sim: LLMSim) -> None:
    await sim.set_mode(mode="normal", tool_calls=CALLS[:1])
    body = {
        "model": "m",
        "max_tokens": 100,
        "stream": True,
        "tools": ANTHROPIC_TOOLS,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        response = await http.post("/v1/messages", json=body)

    events = [
        json.loads(line[len("data: ") :])
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    starts = [e for e in events if e["type"] == "content_block_start"]
    fragments = [
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    ]
    assert starts[0]["content_block"]["type"] == "tool_use"
    assert starts[0]["content_block"]["input"] == {}
    assert len(fragments) > 1
    assert json.loads("".join(fragments)) == CALLS[0]["arguments"]


async def test_calls_answer_the_next_tool_offering_request_only(
    sim: LLMSim, driver: Driver
) -> None:
    await sim.set_mode(mode="normal", tool_calls=CALLS)

    no_tools = await driver.ask("Chat without tools", stream=False)
    first, _, _ = await _calls(driver, stream=False)
    second, stop, _ = await _calls(driver, stream=False)

    assert no_tools.text and no_tools.stop in ("end_turn", "stop")
    assert first == _expected()
    # The round is spent: the next request answers in text, as a model would after its tools.
    assert second == []
    assert stop in ("end_turn", "stop")
    assert (await sim.mode())["tool_rounds_left"] == 0


async def test_tool_rounds_repeat_the_calls(sim: LLMSim, driver: Driver) -> None:
    mode = await sim.set_mode(mode="normal", tool_calls=CALLS[1:], tool_rounds=3)
    assert mode["tool_rounds_left"] == 3

    rounds = [(await _calls(driver, stream=True))[0] for _ in range(4)]

    assert rounds == [[("race_goal", {})]] * 3 + [[]]


async def test_tool_choice_none_does_not_spend_a_round(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="normal", tool_calls=CALLS)
    none: Any = {"type": "none"} if isinstance(driver, AnthropicDriver) else "none"

    calls, _, _ = await _calls(driver, stream=False, tool_choice=none)

    assert calls == []
    assert (await sim.mode())["tool_rounds_left"] == 1


async def test_last_request_keeps_the_offered_tools(sim: LLMSim, driver: Driver) -> None:
    await _calls(driver, stream=True)

    stats = await sim.wait_for_stats(lambda s: s["active"] == 0)

    names = [t.get("name") or t["function"]["name"] for t in stats["last_request"]["tools"]]
    assert names == ["recent_activities", "race_goal"]


def _anthropic_round_trip(results: list[tuple[str, str, bool]]) -> list[MessageParam]:
    """A conversation whose assistant called each tool and whose user returns the results."""
    uses: list[Any] = [
        {"type": "tool_use", "id": f"toolu_{n}", "name": name, "input": {}}
        for n, (name, _, _) in enumerate(results)
    ]
    answers: list[Any] = [
        {"type": "tool_result", "tool_use_id": f"toolu_{n}", "content": text, "is_error": error}
        for n, (_, text, error) in enumerate(results)
    ]
    return [
        {"role": "user", "content": "How was my month?"},
        {"role": "assistant", "content": uses},
        {"role": "user", "content": answers},
    ]


def _openai_round_trip(results: list[tuple[str, str, bool]]) -> list[ChatCompletionMessageParam]:
    calls: list[Any] = [
        {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": "{}"}}
        for n, (name, _, _) in enumerate(results)
    ]
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "How was my month?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
    ]
    messages += [
        {"role": "tool", "tool_call_id": f"call_{n}", "content": text}
        for n, (_, text, _) in enumerate(results)
    ]
    return messages


async def _answer_to_results(
    driver: Driver, results: list[tuple[str, str, bool]], stream: bool
) -> str:
    if isinstance(driver, AnthropicDriver):
        request: dict[str, Any] = {
            "model": driver.model,
            "max_tokens": 1024,
            "tools": ANTHROPIC_TOOLS,
            "messages": _anthropic_round_trip(results),
        }
        message = await driver.message(request, stream=stream)
        return "".join(block.text for block in message.content if block.type == "text")
    assert isinstance(driver, OpenAIDriver)
    options: dict[str, Any] = {
        "model": driver.model,
        "tools": OPENAI_TOOLS,
        "messages": _openai_round_trip(results),
    }
    completion = await driver.completion(options, stream=stream)
    return completion.choices[0].message.content or ""


async def test_the_answer_quotes_the_start_of_each_result(
    sim: LLMSim, driver: Driver, stream: bool
) -> None:
    results = [("recent_activities", RESULT, False), ("race_goal", '{"race": "Berlin"}', False)]

    text = await _answer_to_results(driver, results, stream)

    assert f"Result of recent_activities: «{RESULT[:QUOTE_CHARS]}»" in text
    assert 'Result of race_goal: «{"race": "Berlin"}»' in text
    assert RESULT[: QUOTE_CHARS + 1] not in text  # the start, not the whole result


async def test_an_anthropic_tool_error_is_quoted_as_an_error(
    sim: LLMSim, anthropic_driver: AnthropicDriver
) -> None:
    results = [("recent_activities", "timed out after 5 s", True)]

    text = await _answer_to_results(anthropic_driver, results, stream=True)

    assert text.startswith("Error from recent_activities: «timed out after 5 s» ")


async def test_calls_still_left_win_over_the_results(sim: LLMSim, driver: Driver) -> None:
    # A model that keeps calling tools: how a test reaches the coach's step limit.
    await sim.set_mode(mode="normal", tool_calls=CALLS[1:], tool_rounds=2)
    await _calls(driver, stream=False)

    text = await _answer_to_results(driver, [("race_goal", "{}", False)], stream=False)

    assert text == ""
    assert (await sim.mode())["tool_rounds_left"] == 0


async def test_drop_cuts_the_stream_inside_the_arguments(sim: LLMSim, driver: Driver) -> None:
    arguments = {"days": 28, "note": "felt heavy on the hills today"}
    await sim.set_mode(
        mode="drop", tool_calls=[{"name": "recent_activities", "arguments": arguments}]
    )
    whole = json.dumps(arguments)
    received: list[str] = []

    with pytest.raises(driver.stream_cut_error):
        await _stream_arguments(driver, received)

    seen = "".join(received)
    assert seen and whole.startswith(seen) and seen != whole
    await sim.wait_for_stats(lambda s: s["dropped"] == 1 and s["active"] == 0)


async def _stream_arguments(driver: Driver, received: list[str]) -> None:
    """Collect each argument fragment of a streamed tool call as it arrives."""
    if isinstance(driver, AnthropicDriver):
        events = await driver.client.messages.create(
            model=driver.model,
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
            tools=ANTHROPIC_TOOLS,
            stream=True,
        )
        async for event in events:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                received.append(event.delta.partial_json)
        return
    assert isinstance(driver, OpenAIDriver)
    chunks = await driver.client.chat.completions.create(
        model=driver.model,
        messages=[{"role": "user", "content": "hi"}],
        tools=OPENAI_TOOLS,
        stream=True,
    )
    async for chunk in chunks:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                if call.function and call.function.arguments:
                    received.append(call.function.arguments)


async def test_slow_mode_paces_the_argument_fragments(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="slow", first_token_ms=200, token_ms=60, tool_calls=CALLS[:1])
    received: list[str] = []

    started = time.monotonic()
    await _stream_arguments(driver, received)
    elapsed = time.monotonic() - started

    assert json.loads("".join(received)) == CALLS[0]["arguments"]
    # Four fragments: the first after 200 ms, three more 60 ms apart (lower bound only).
    assert len(received) == 4
    assert elapsed >= 0.2 + 3 * 0.06


@pytest.mark.parametrize("mode", ["hang", "error"])
async def test_a_request_that_fails_does_not_spend_the_round(
    sim: LLMSim, driver: Driver, mode: str
) -> None:
    await sim.set_mode(mode=mode, status=500, tool_calls=CALLS)

    with pytest.raises((driver.timeout_error, driver.status_errors[500])):
        await asyncio.wait_for(_calls(driver, stream=True, timeout=0.3), 10)
    await sim.set_mode(mode="normal", tool_calls=CALLS)
    calls, _, _ = await _calls(driver, stream=True)

    assert calls == _expected()


async def test_a_mode_change_resets_the_rounds(sim: LLMSim, driver: Driver) -> None:
    await sim.set_mode(mode="normal", tool_calls=CALLS, tool_rounds=5)

    mode = await sim.set_mode(mode="normal")

    assert (mode["tool_calls"], mode["tool_rounds_left"]) == (None, 0)
    assert (await _calls(driver, stream=False))[0] == []


@pytest.mark.parametrize(
    "fields",
    [
        {"tool_calls": []},
        {"tool_calls": {"name": "x"}},
        {"tool_calls": ["recent_activities"]},
        {"tool_calls": [{"arguments": {}}]},
        {"tool_calls": [{"name": ""}]},
        {"tool_calls": [{"name": "has space"}]},
        {"tool_calls": [{"name": "x" * 65}]},
        {"tool_calls": [{"name": "x", "arguments": "{}"}]},
        {"tool_calls": [{"name": "x", "arguments": [1]}]},
        {"tool_calls": [{"name": "x", "id": "call_1"}]},
        {"tool_calls": [{"name": "x"}] * 17},
        {"tool_calls": [{"name": "x"}], "tool_rounds": 0},
        {"tool_calls": [{"name": "x"}], "tool_rounds": True},
        {"tool_calls": [{"name": "x"}], "tool_rounds": 101},
        {"tool_rounds": 2},
    ],
)
async def test_bad_tool_calls_are_a_400_and_change_nothing(
    sim: LLMSim, fields: dict[str, Any]
) -> None:
    await sim.set_mode(mode="slow", tool_calls=CALLS)
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        response = await http.post("/_sim/mode", json={"mode": "normal", **fields})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_mode"
    mode = await sim.mode()
    assert (mode["mode"], mode["tool_rounds_left"]) == ("slow", 1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"tools": {"name": "x"}}, "tools: Input should be a valid list"),
        ({"tools": [{"description": "no name"}]}, "tools.0.name: Field required"),
        ({"tools": [{"name": "x", "input_schema": {"type": "string"}}]}, "tools.0.input_schema"),
        ({"tool_choice": "auto"}, "tool_choice: Input should be an object"),
        ({"tools": ANTHROPIC_TOOLS, "tool_choice": {"type": "tool", "name": "nope"}}, "nope"),
    ],
)
async def test_bad_anthropic_tools_are_a_400_in_its_shape(
    sim: LLMSim, extra: dict[str, Any], message: str
) -> None:
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        response = await http.post("/v1/messages", json={**body, **extra})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert message in error["message"]
    assert (await sim.stats())["errors"] == 1


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": "x"}, "tools"),
        ({"tools": [{"type": "function"}]}, "tools.[0]"),
        ({"tools": [{"type": "function", "function": {"name": "x", "parameters": []}}]}, None),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        (
            {"tools": OPENAI_TOOLS, "tool_choice": {"type": "function", "function": {"name": "n"}}},
            "tool_choice",
        ),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
        ({"response_format": {"type": "yaml"}}, "response_format"),
        ({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}, None),
    ],
)
async def test_bad_openai_tools_are_a_400_in_its_shape(
    sim: LLMSim, openai_driver: OpenAIDriver, extra: dict[str, Any], param: str | None
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        response = await http.post("/v1/chat/completions", json={**body, **extra})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param
    assert (await sim.stats())["errors"] == 1


async def test_anthropic_sdk_rejection_reaches_the_caller(
    sim: LLMSim, anthropic_driver: AnthropicDriver
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await anthropic_driver.client.messages.create(
            model=anthropic_driver.model,
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            tools=ANTHROPIC_TOOLS,
            tool_choice={"type": "tool", "name": "not_offered"},
        )

    assert "not_offered" in str(caught.value.api_message)


@pytest.mark.parametrize("stream", [False, True])
async def test_max_tokens_cuts_a_call_inside_its_arguments(sim: LLMSim, stream: bool) -> None:
    """As a provider does: the call keeps the fragments sent so far, the next is
    never made, and the stop reason says max_tokens, not tool use."""
    await sim.set_mode(mode="normal", tool_calls=CALLS, tool_rounds=2)
    whole = json.dumps(CALLS[0]["arguments"])
    user = [{"role": "user", "content": "hi"}]
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as http:
        anthropic_body = {"model": "m", "max_tokens": 2, "messages": user, "stream": stream}
        answer = await http.post("/v1/messages", json={**anthropic_body, "tools": ANTHROPIC_TOOLS})
        openai_body = {"model": "m", "max_completion_tokens": 2, "messages": user, "stream": stream}
        completion = await http.post(
            "/v1/chat/completions", json={**openai_body, "tools": OPENAI_TOOLS}
        )
    if not stream:
        message = answer.json()
        assert message["stop_reason"] == "max_tokens"
        assert [block["input"] for block in message["content"]] == [{}]
        [call] = completion.json()["choices"][0]["message"]["tool_calls"]
        assert completion.json()["choices"][0]["finish_reason"] == "length"
        cut = call["function"]["arguments"]
        assert whole.startswith(cut) and cut != whole
        return
    assert '"stop_reason":"max_tokens"' in answer.text and "race_goal" not in answer.text
    assert answer.text.count("input_json_delta") == 2
    assert '"finish_reason":"length"' in completion.text and "race_goal" not in completion.text
