"""Structured output through LLMClient.complete: each provider's own feature on the
wire (OpenAI strict json_schema, Anthropic a forced tool), the parsed object in
Completion.structured, and LLMInvalidOutput for an answer that is not one."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.llm_client import MODELS, SHORT_TIMEOUTS, LLMClients, MemorySink, model_of
from fixtures.llm_sim import LLMSim, sdk_settings
from pacer_common.llm import (
    ChatMessage,
    Completion,
    Deadline,
    LLMClient,
    LLMInvalidOutput,
    LLMRequest,
    OutputSchema,
)
from pacer_common.llm.providers.openai import strict_schema
from pacer_common.llm.registry import Provider
from pacer_common.topics import RESULT_SCHEMAS, validate_result
from pacer_llm_sim.schema_instance import instance

PROVIDERS = pytest.mark.parametrize("provider", sorted(MODELS))


def schema_of(topic: str) -> OutputSchema:
    return OutputSchema(topic, RESULT_SCHEMAS[topic].model_json_schema())


def ask(provider: Provider, topic: str = "race_debrief", max_tokens: int = 1024) -> LLMRequest:
    return LLMRequest(
        system="Extract the result.",
        messages=[ChatMessage("user", "Coach: how was Berlin?\n\nAthlete: 3:05, effort 8.")],
        max_tokens=max_tokens,
        model=model_of(provider),
        output_schema=schema_of(topic),
    )


async def complete(client: LLMClient, request: LLMRequest) -> Completion:
    return await client.complete(
        request, deadline=Deadline.after(10), user_id=None, purpose="test", fallback=False
    )


def client_for(sim: LLMSim, llm_clients: LLMClients) -> LLMClient:
    return llm_clients(**sdk_settings(sim.base_url), LLM_FALLBACK_ORDER="", **SHORT_TIMEOUTS)


@PROVIDERS
@pytest.mark.parametrize("topic", sorted(RESULT_SCHEMAS))
async def test_the_structured_answer_is_parsed_and_valid(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider, topic: str
) -> None:
    completion = await complete(client_for(sim, llm_clients), ask(provider, topic))

    assert completion.structured is not None
    assert validate_result(topic, completion.structured) is not None
    assert completion.tool_calls == () and completion.finish_reason in ("stop", "tool_use")
    sent = (await sim.stats())["last_request"]
    if provider == "openai":
        strict = strict_schema(schema_of(topic).schema)
        assert sent["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": topic, "schema": strict, "strict": True},
        }
        assert completion.structured == instance(strict)
    else:
        assert sent["tool_choice"] == {"type": "tool", "name": topic}
        [tool] = sent["tools"]
        assert tool["name"] == topic and tool["input_schema"] == schema_of(topic).schema
        assert completion.structured == instance(schema_of(topic).schema)


def test_strict_schema_closes_every_object_and_requires_every_property() -> None:
    strict = strict_schema(schema_of("onboarding").schema)

    def objects(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, dict):
            found = [node] if "properties" in node else []
            return found + [item for value in node.values() for item in objects(value)]
        if isinstance(node, list):
            return [item for value in node for item in objects(value)]
        return []

    assert objects(strict)
    for node in objects(strict):
        assert node["additionalProperties"] is False
        assert node["required"] == list(node["properties"])
    assert '"default"' not in str(strict).replace("'", '"')


@PROVIDERS
async def test_words_instead_of_the_structured_answer_raise_invalid_output(
    sim: LLMSim, llm_clients: LLMClients, sink: MemorySink, provider: Provider
) -> None:
    """The simulator's fixed text overrides the schema: Anthropic then answers with a
    text block and no call of the forced tool, OpenAI with text that is not JSON."""
    await sim.set_mode(mode="normal", text="Sorry, I cannot do JSON today.")

    with pytest.raises(LLMInvalidOutput) as raised:
        await complete(client_for(sim, llm_clients), ask(provider))

    assert raised.value.output == "Sorry, I cannot do JSON today."
    assert raised.value.code == "invalid_output" and not raised.value.retryable
    [record] = await sink.wait_for(1)
    assert record.outcome == "ok"


@PROVIDERS
async def test_a_structured_answer_cut_at_max_tokens_raises_invalid_output(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider
) -> None:
    with pytest.raises(LLMInvalidOutput) as raised:
        await complete(client_for(sim, llm_clients), ask(provider, max_tokens=3))

    assert raised.value.finish_reason == "length"
    assert "max_tokens" in raised.value.detail
