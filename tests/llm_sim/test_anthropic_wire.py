"""Anthropic-only details of the Messages API the simulator speaks."""

from __future__ import annotations

import anthropic
import httpx
import pytest
from llm_sim.drivers import AnthropicDriver

from fixtures.llm_sim import LLMSim


async def test_stream_helper_accumulates_final_message(anthropic_driver: AnthropicDriver) -> None:
    client = anthropic_driver.client
    async with client.messages.stream(
        model="claude-sim-1",
        max_tokens=100,
        system="You are a running coach",
        messages=[{"role": "user", "content": "Any advice?"}],
    ) as stream:
        text = "".join([chunk async for chunk in stream.text_stream])
        final = await stream.get_final_message()

    assert text
    assert final.content[0].type == "text"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (7, 20)


async def test_system_and_content_blocks_count_as_input(anthropic_driver: AnthropicDriver) -> None:
    message = await anthropic_driver.client.messages.create(
        model="claude-sim-1",
        max_tokens=100,
        system=[{"type": "text", "text": "Coach kindly"}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "one two three"}]},
            {"role": "assistant", "content": "four five"},
            {"role": "user", "content": "six"},
        ],
    )

    assert message.usage.input_tokens == 8


async def test_max_tokens_truncates(anthropic_driver: AnthropicDriver, stream: bool) -> None:
    answer = await anthropic_driver.ask("Tell me everything", stream=stream, max_tokens=5)

    assert answer.output_tokens == 5
    assert len(answer.text.split()) == 5
    assert answer.stop == "max_tokens"


async def test_invalid_request_body_uses_anthropic_error_shape(sim: LLMSim) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        missing_max_tokens = await http.post(
            "/v1/messages",
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        not_json = await http.post("/v1/messages", content=b"{nope")

    assert missing_max_tokens.status_code == 400
    assert missing_max_tokens.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }
    assert not_json.status_code == 400
    assert not_json.json()["error"]["type"] == "invalid_request_error"
    assert missing_max_tokens.headers["request-id"].startswith("req_sim_")


async def test_empty_messages_is_a_bad_request(anthropic_driver: AnthropicDriver) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await anthropic_driver.client.messages.create(
            model="claude-sim-1", max_tokens=10, messages=[]
        )

    assert caught.value.type == "invalid_request_error"
    assert caught.value.api_message == "messages: at least one message is required"
