"""The default mode's propose_activity: a run the athlete mentions becomes a tool call.

With no mode set, a request that offers ``propose_activity`` and whose newest
user message tells of a run with its duration is answered by a call of it, in
both dialects, streamed and whole; anything else is the ordinary text answer.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from anthropic.types import ToolParam
from llm_sim.drivers import AnthropicDriver, Driver, OpenAIDriver
from openai.types.chat import ChatCompletionToolParam

from fixtures.llm_sim import LLMSim
from pacer_llm_sim.run_mentions import proposed_activity

NOW = dt.datetime(2026, 12, 7, 9, 30, 12, tzinfo=dt.UTC)

SENTENCES: list[tuple[str, dict[str, Any] | None]] = [
    (
        "I ran 10k this morning in 52 minutes, felt heavy",
        {
            "sport": "run",
            "started_at": "2026-12-07T07:00:00+00:00",  # the morning, not 52 minutes ago
            "duration_s": 3120,
            "distance_m": 10000.0,
        },
    ),
    (
        "Ran 5 km in 25 minutes yesterday morning",
        {
            "sport": "run",
            "started_at": "2026-12-06T07:00:00+00:00",
            "duration_s": 1500,
            "distance_m": 5000.0,
        },
    ),
    (
        "ran 10k in 52 minutes",  # no time of day: it just ended
        {
            "sport": "run",
            "started_at": "2026-12-07T08:38:00+00:00",
            "duration_s": 3120,
            "distance_m": 10000.0,
        },
    ),
    (
        "Ran 5.5 km yesterday, 31:20",
        {
            "sport": "run",
            "started_at": "2026-12-06T08:58:40+00:00",
            "duration_s": 1880,
            "distance_m": 5500.0,
        },
    ),
    (
        "went for a run: 1 hour 5 minutes, 8 miles",
        {
            "sport": "run",
            "started_at": "2026-12-07T08:25:00+00:00",
            "duration_s": 3900,
            "distance_m": 12874.8,
        },
    ),
    ("I ran 10k this morning", None),  # no duration: nothing to log
    ("How should I train for 52 minutes?", None),  # no run
    ("Swam 2 km in 45 minutes", None),
]


@pytest.mark.parametrize(("text", "expected"), SENTENCES, ids=[s[0] for s in SENTENCES])
def test_the_sentence_parses_to_the_arguments(text: str, expected: dict[str, Any] | None) -> None:
    assert proposed_activity(text, NOW) == expected


@pytest.mark.parametrize(
    ("now", "started_at"),
    [
        # Before 07:52 a 52-minute run from 07:00 would not have ended yet: it ended now.
        (dt.datetime(2026, 12, 7, 7, 30, tzinfo=dt.UTC), "2026-12-07T06:38:00+00:00"),
        (dt.datetime(2026, 12, 7, 5, 10, 40, tzinfo=dt.UTC), "2026-12-07T04:18:00+00:00"),
        (dt.datetime(2026, 12, 7, 7, 52, tzinfo=dt.UTC), "2026-12-07T07:00:00+00:00"),
        (dt.datetime(2026, 12, 7, 21, 5, tzinfo=dt.UTC), "2026-12-07T07:00:00+00:00"),
    ],
)
def test_this_morning_is_never_a_run_that_has_not_ended(now: dt.datetime, started_at: str) -> None:
    arguments = proposed_activity("I ran 10k this morning in 52 minutes", now)
    assert arguments is not None
    assert arguments["started_at"] == started_at


def test_yesterday_morning_is_at_seven_even_when_told_before_seven() -> None:
    now = dt.datetime(2026, 12, 7, 6, 0, tzinfo=dt.UTC)
    arguments = proposed_activity("ran yesterday morning, 52 minutes", now)
    assert arguments is not None
    assert arguments["started_at"] == "2026-12-06T07:00:00+00:00"


_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"duration_s": {"type": "integer"}}}
TOOLS: list[ToolParam] = [
    {"name": "propose_activity", "description": "Log a run", "input_schema": _SCHEMA},
]
OPENAI_TOOLS: list[ChatCompletionToolParam] = [
    {"type": "function", "function": {"name": "propose_activity", "parameters": _SCHEMA}}
]


async def _ask(
    driver: Driver, message: str, *, offer: bool = True
) -> tuple[list[tuple[str, Any]], str]:
    """(name, arguments) of each call and the text, streamed."""
    if isinstance(driver, AnthropicDriver):
        request: dict[str, Any] = {
            "model": driver.model,
            "max_tokens": 256,
            "messages": [{"role": "user", "content": message}],
        }
        if offer:
            request["tools"] = TOOLS
        async with driver.client.messages.stream(**request) as events:
            final = await events.get_final_message()
        calls = [(b.name, b.input) for b in final.content if b.type == "tool_use"]
        return calls, "".join(b.text for b in final.content if b.type == "text")
    assert isinstance(driver, OpenAIDriver)
    body: dict[str, Any] = {
        "model": driver.model,
        "messages": [{"role": "user", "content": message}],
    }
    if offer:
        body["tools"] = OPENAI_TOOLS
    async with driver.client.chat.completions.stream(**body) as stream:
        completion = await stream.get_final_completion()
    choice = completion.choices[0].message
    found = [(c.function.name, json.loads(c.function.arguments)) for c in choice.tool_calls or []]
    return found, choice.content or ""


def _this_morning(now: dt.datetime, duration: dt.timedelta) -> dt.datetime:
    """07:00 UTC today, or earlier if a run from then would not have ended by ``now``."""
    return min(dt.datetime.combine(now.date(), dt.time(7), dt.UTC), now - duration)


async def test_a_mentioned_run_is_proposed_with_no_mode_set(sim: LLMSim, driver: Driver) -> None:
    before = dt.datetime.now(dt.UTC)
    calls, text = await _ask(driver, "I ran 10k this morning in 52 minutes, felt heavy")
    after = dt.datetime.now(dt.UTC)
    assert text == ""
    assert [name for name, _ in calls] == ["propose_activity"]
    arguments = calls[0][1]
    assert (arguments["duration_s"], arguments["distance_m"]) == (3120, 10000.0)
    started = dt.datetime.fromisoformat(arguments["started_at"])
    # The start only moves forward with the clock; the simulator truncates it to the minute.
    duration = dt.timedelta(minutes=52)
    lowest = _this_morning(before, duration) - dt.timedelta(minutes=1)
    assert lowest <= started <= _this_morning(after, duration)


async def test_no_call_without_the_tool_a_run_or_with_a_fixed_text(
    sim: LLMSim, driver: Driver
) -> None:
    calls, text = await _ask(driver, "I ran 10k this morning in 52 minutes", offer=False)
    assert calls == [] and text
    calls, text = await _ask(driver, "How should I train today?")
    assert calls == [] and text
    await sim.set_mode(mode="normal", text="Nice run!")
    calls, text = await _ask(driver, "I ran 10k this morning in 52 minutes")
    assert calls == [] and text == "Nice run!"
