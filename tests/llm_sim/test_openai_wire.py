"""OpenAI-only details of the Chat Completions API the simulator speaks."""

from __future__ import annotations

import httpx
import openai
import pytest
from llm_sim.drivers import OpenAIDriver

from fixtures.llm_sim import LLMSim

MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "system", "content": "Coach kindly"},
    {"role": "user", "content": [{"type": "text", "text": "one two three"}]},
]


async def test_stream_without_include_usage_has_no_usage_chunk(
    openai_driver: OpenAIDriver,
) -> None:
    stream = await openai_driver.client.chat.completions.create(
        model="gpt-sim-1", messages=MESSAGES, stream=True
    )
    chunks = [chunk async for chunk in stream]

    assert chunks[0].choices[0].delta.role == "assistant"
    assert [chunk.choices[0].finish_reason for chunk in chunks][-2:] == [None, "stop"]
    assert all(chunk.usage is None for chunk in chunks)


async def test_include_usage_adds_a_final_usage_chunk(openai_driver: OpenAIDriver) -> None:
    stream = await openai_driver.client.chat.completions.create(
        model="gpt-sim-1",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (5, 20)
    assert last.usage.total_tokens == 25


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
async def test_token_limit_truncates(openai_driver: OpenAIDriver, stream: bool, limit: str) -> None:
    answer = await openai_driver.ask("Tell me everything", stream=stream, **{limit: 5})

    assert answer.output_tokens == 5
    assert answer.stop == "length"


async def test_stream_ends_with_done(sim: LLMSim) -> None:
    body = {"model": "gpt-sim-1", "messages": MESSAGES, "stream": True}
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        response = await http.post("/v1/chat/completions", json=body)

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.endswith("data: [DONE]\n\n")


async def test_invalid_request_body_uses_openai_error_shape(sim: LLMSim) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        response = await http.post("/v1/chat/completions", json={"model": "m", "messages": []})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "messages"
    assert "messages" in error["message"]
    assert response.headers["x-request-id"].startswith("req_sim_")


async def test_bad_request_surfaces_param(openai_driver: OpenAIDriver) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await openai_driver.client.chat.completions.create(model="gpt-sim-1", messages=[])

    assert caught.value.param == "messages"
    assert caught.value.type == "invalid_request_error"
