"""Structured output: asked with the providers' own features, the simulator answers
with a valid, deterministic instance of the schema (so a coaching session's
extraction completes in the default mode); a fixed ``text`` still overrides."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest
from llm_sim.drivers import AnthropicDriver, OpenAIDriver
from pydantic import BaseModel

from fixtures.llm_sim import LLMSim
from pacer_common.topics import RESULT_SCHEMAS, validate_result
from pacer_llm_sim.schema_instance import instance

TOPICS = sorted(RESULT_SCHEMAS)


def _schema(topic: str) -> dict[str, Any]:
    return RESULT_SCHEMAS[topic].model_json_schema()


def _valid(value: object, schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(value)


async def _openai_structured(driver: OpenAIDriver, schema: dict[str, Any], stream: bool) -> str:
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "result", "schema": schema, "strict": True},
    }
    request: dict[str, Any] = {
        "model": driver.model,
        "messages": [{"role": "user", "content": "Extract the result"}],
        "response_format": response_format,
    }
    completion = await driver.completion(request, stream=stream)
    return completion.choices[0].message.content or ""


async def _anthropic_forced(
    driver: AnthropicDriver, schema: dict[str, Any], stream: bool
) -> list[Any]:
    """The content blocks of the answer to a request forcing the tool 'record'."""
    request: dict[str, Any] = {
        "model": driver.model,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Extract the result"}],
        "tools": [{"name": "record", "description": "Record the result", "input_schema": schema}],
        "tool_choice": {"type": "tool", "name": "record"},
    }
    message = await driver.message(request, stream=stream)
    assert message.stop_reason == (
        "tool_use" if message.content[0].type == "tool_use" else "end_turn"
    )
    return list(message.content)


@pytest.mark.parametrize("topic", TOPICS)
async def test_openai_json_schema_gets_a_valid_instance(
    sim: LLMSim, openai_driver: OpenAIDriver, stream: bool, topic: str
) -> None:
    content = await _openai_structured(openai_driver, _schema(topic), stream)

    value = json.loads(content)
    _valid(value, _schema(topic))
    assert validate_result(topic, value) == value
    # Deterministic: the same schema, the same answer.
    assert await _openai_structured(openai_driver, _schema(topic), stream) == content


@pytest.mark.parametrize("topic", TOPICS)
async def test_anthropic_forced_tool_gets_a_valid_instance(
    sim: LLMSim, anthropic_driver: AnthropicDriver, stream: bool, topic: str
) -> None:
    blocks = await _anthropic_forced(anthropic_driver, _schema(topic), stream)

    assert [block.type for block in blocks] == ["tool_use"]
    assert blocks[0].name == "record"
    _valid(blocks[0].input, _schema(topic))
    assert validate_result(topic, blocks[0].input) == blocks[0].input


class _Plan(BaseModel):
    """A model the OpenAI SDK turns into a strict schema itself (``parse``)."""

    sessions: list[str]
    weekly_km: float
    focus: str | None


async def test_openai_sdk_parse_reads_the_answer_into_its_model(
    sim: LLMSim, openai_driver: OpenAIDriver
) -> None:
    completion = await openai_driver.client.chat.completions.parse(
        model=openai_driver.model,
        messages=[{"role": "user", "content": "Plan my week"}],
        response_format=_Plan,
    )

    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, _Plan)
    assert parsed.sessions and parsed.focus is not None


async def test_the_json_streams_in_several_deltas(sim: LLMSim, openai_driver: OpenAIDriver) -> None:
    deltas = [
        delta
        async for delta in openai_driver.tokens(
            "Extract",
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": _schema("race_debrief"), "strict": True},
            },
        )
    ]

    assert len(deltas) > 5
    _valid(json.loads("".join(deltas)), _schema("race_debrief"))


async def test_text_overrides_structured_output(
    sim: LLMSim, openai_driver: OpenAIDriver, anthropic_driver: AnthropicDriver, stream: bool
) -> None:
    await sim.set_mode(mode="normal", text='{"race_name": 7}')

    content = await _openai_structured(openai_driver, _schema("race_debrief"), stream)
    blocks = await _anthropic_forced(anthropic_driver, _schema("race_debrief"), stream)

    assert content == '{"race_name": 7}'
    assert [(block.type, block.text) for block in blocks] == [("text", '{"race_name": 7}')]


async def test_scripted_calls_answer_a_forced_tool(
    sim: LLMSim, anthropic_driver: AnthropicDriver
) -> None:
    # How a test makes Anthropic's structured answer invalid: script the forced tool's call.
    bad = {"race_name": "Berlin", "effort": 11}
    await sim.set_mode(mode="normal", tool_calls=[{"name": "record", "arguments": bad}])

    blocks = await _anthropic_forced(anthropic_driver, _schema("race_debrief"), stream=True)

    assert [(block.name, block.input) for block in blocks] == [("record", bad)]


async def test_an_openai_forced_function_gets_a_valid_call(
    sim: LLMSim, openai_driver: OpenAIDriver
) -> None:
    schema = _schema("onboarding")
    completion = await openai_driver.client.chat.completions.create(
        model=openai_driver.model,
        messages=[{"role": "user", "content": "Extract"}],
        tools=[{"type": "function", "function": {"name": "record", "parameters": schema}}],
        tool_choice={"type": "function", "function": {"name": "record"}},
    )

    calls = completion.choices[0].message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function"
    assert calls[0].function.name == "record"
    _valid(json.loads(calls[0].function.arguments), schema)


_DEFS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "$defs": {
        "Split": {
            "type": "object",
            "properties": {
                "km": {"type": "integer", "minimum": 1, "maximum": 42},
                "pace_s": {"type": "number", "exclusiveMinimum": 120, "exclusiveMaximum": 600},
            },
            "required": ["km", "pace_s"],
            "additionalProperties": False,
        },
        "Tree": {
            "type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Tree"}}},
        },
    },
    "properties": {
        "splits": {"type": "array", "items": {"$ref": "#/$defs/Split"}, "minItems": 3},
        "tree": {"$ref": "#/$defs/Tree"},
    },
    "required": ["splits", "tree"],
}


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "enum": ["easy", "tempo", "long"]},
        {"const": "run"},
        {"type": ["integer", "null"], "minimum": 3},
        {"type": "integer", "minimum": 0, "maximum": 21},
        {"type": "integer", "exclusiveMinimum": 0, "maximum": 604800},
        {"type": "number", "minimum": 0.1, "maximum": 1_000_000},
        {"type": "number", "exclusiveMaximum": 0},
        {"type": "integer", "minimum": 7, "maximum": 40, "multipleOf": 5},
        {"type": "number", "multipleOf": 0.5, "minimum": 1.2},
        {"type": "string", "minLength": 300},
        {"type": "string", "maxLength": 3},
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "email"},
        {"type": "string", "format": "uuid"},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": {"type": "string"}, "minItems": 4, "uniqueItems": True},
        {
            "type": "array",
            "items": {"type": "integer", "enum": [1, 2, 3]},
            "minItems": 3,
            "uniqueItems": True,
        },
        {"type": "array", "items": {"type": "string"}, "maxItems": 0},
        {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "minItems": 2},
        {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 2}]},
        {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
            ]
        },
        {
            "type": "object",
            "properties": {"week": {"type": "object", "properties": {"days": {"type": "array"}}}},
            "required": ["week"],
            "additionalProperties": False,
        },
        _DEFS_SCHEMA,
    ],
)
def test_instance_validates_and_is_deterministic(schema: dict[str, Any]) -> None:
    value = instance(schema)

    _valid(value, schema)
    assert instance(schema) == value


def test_instance_fills_every_property() -> None:
    value = instance(_schema("onboarding"))

    assert set(value) == set(_schema("onboarding")["properties"])
    assert value["target_time_s"] is not None


async def test_a_schema_that_cannot_be_read_is_a_400(
    sim: LLMSim, openai_driver: OpenAIDriver
) -> None:
    schema = {"type": "object", "properties": {"x": {"$ref": "#/$defs/Missing"}}}
    with pytest.raises(openai.BadRequestError) as caught:
        await _openai_structured(openai_driver, schema, stream=False)

    assert "Missing" in str(caught.value)
