"""Normal mode through both SDKs: text, usage and determinism, streamed and not."""

from __future__ import annotations

import pytest
from llm_sim.drivers import Driver

from fixtures.llm_sim import LLMSim


async def test_answer_is_readable_text_with_usage(driver: Driver, stream: bool) -> None:
    answer = await driver.ask("How did my long run go today?", stream=stream)

    words = answer.text.split()
    assert len(words) == 20
    assert all(word.replace("'", "").rstrip(".").isalpha() for word in words), answer.text
    assert answer.input_tokens == 7
    assert answer.output_tokens == 20
    assert answer.stop in ("end_turn", "stop")


async def test_same_prompt_same_text_other_prompt_other_text(driver: Driver, stream: bool) -> None:
    first = await driver.ask("Should I run tomorrow?", stream=stream)
    again = await driver.ask("Should I run tomorrow?", stream=stream)
    other = await driver.ask("Should I rest tomorrow?", stream=stream)

    assert first.text == again.text
    assert other.text != first.text


async def test_streamed_and_whole_answers_agree(driver: Driver) -> None:
    whole = await driver.ask("Plan my week", stream=False)
    streamed = await driver.ask("Plan my week", stream=True)

    assert streamed == whole


@pytest.mark.parametrize("tokens", [0, 1, 7, 120])
async def test_tokens_sets_reply_length(
    sim: LLMSim, driver: Driver, stream: bool, tokens: int
) -> None:
    await sim.set_mode(mode="normal", tokens=tokens)

    answer = await driver.ask("Long answer please", stream=stream)

    assert answer.output_tokens == tokens
    assert len(answer.text.split()) == tokens


async def test_one_stream_event_per_token(driver: Driver) -> None:
    tokens = [token async for token in driver.tokens("Count my tokens")]

    assert len(tokens) == 20
    assert all(token.endswith(" ") and token.count(" ") == 1 for token in tokens)


async def test_request_without_model_is_a_bad_request(sim: LLMSim, driver: Driver) -> None:
    with pytest.raises(driver.bad_request_error) as caught:
        await driver.ask_without_model()

    assert "model" in str(caught.value)
    stats = await sim.wait_for_stats(lambda s: s["active"] == 0)
    assert stats["errors"] == 1
    assert stats["by_model"] == {}
