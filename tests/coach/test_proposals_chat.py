"""The coach's tools in a chat, against the simulator over real HTTP, in both dialects.

A run the athlete mentions becomes a proposal card (the simulator's default
mode calls propose_activity), applied once however often Apply is pressed;
scripted read tools reach the model; bad arguments, unknown tools, a fault in
the middle of a tool call, a stall inside one, arguments cut at max_tokens,
the step limit and a retry with the same Idempotency-Key each end in ``done``,
with nothing created twice. Each dialect's stream is read both ways
(LLM_RAW_STREAM true, the default, and false: the SDK's own parser).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from fixtures.coach import ChatResult, StartCoach, chat, read_result
from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim

RUN = "I ran 10k this morning in 52 minutes, felt heavy"
# Not the 7-day default: the proposal's expiry must come from the setting.
PROPOSAL_TTL_S = 3600


@pytest.fixture(
    scope="module",
    params=[
        ("CLAUDE_HAIKU", True),
        ("GPT_MINI", True),
        ("CLAUDE_HAIKU", False),
        ("GPT_MINI", False),
    ],
    ids=["anthropic-raw", "openai-raw", "anthropic-sdk", "openai-sdk"],
)
async def dialect_coach(
    request: pytest.FixtureRequest, start_coach: StartCoach
) -> AsyncIterator[str]:
    """A coach whose model speaks Anthropic's dialect or OpenAI's, its stream read raw
    (LLM_RAW_STREAM, the default) or through the SDK's own stream parser."""
    model, raw = request.param
    async with start_coach(
        DEFAULT_MODEL=model,
        COACH_MAX_TOOL_STEPS=2,
        LLM_RAW_STREAM=raw,
        COACH_PROPOSAL_TTL_SECONDS=PROPOSAL_TTL_S,
    ) as coach:
        yield coach.base_url


@pytest.fixture
async def http(dialect_coach: str, clean_state: None) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=dialect_coach, timeout=30) as client:
        yield client


def tools(result: ChatResult) -> list[dict[str, Any]]:
    return [event.data for event in result.of("tool")]


def _calls(tool: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value("coach_tool_calls_total", {"tool": tool, "outcome": outcome})
    return value or 0.0


def _timed(tool: str) -> float:
    return REGISTRY.get_sample_value("coach_tool_duration_seconds_count", {"tool": tool}) or 0.0


async def _count(pool: asyncpg.Pool, table: str) -> int:
    value: int = await pool.fetchval(f"SELECT count(*) FROM {table}")
    return value


async def test_a_mentioned_run_is_a_proposal_applied_once(
    http: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    done_before = _calls("propose_activity", "done")
    timed_before = _timed("propose_activity")
    result = await chat(http, runner, RUN)

    assert [e.event for e in result.events][:3] == ["meta", "tool", "tool"]
    # Counted and timed (the coach runs in this process: its registry is this one).
    assert _calls("propose_activity", "done") == done_before + 1
    assert _timed("propose_activity") == timed_before + 1
    running, finished = tools(result)
    assert running["name"] == finished["name"] == "propose_activity"
    assert running["call_id"] == finished["call_id"]
    assert (running["status"], finished["status"]) == ("running", "done")
    proposal = finished["proposal"]
    assert proposal["status"] == "pending" and proposal["kind"] == "activity"
    assert proposal["change"]["duration_s"] == 3120 and proposal["change"]["distance_m"] == 10000.0
    # The model's second round read the result: it quotes the proposal's id.
    assert f'Result of propose_activity: «{{"proposal_id":"{proposal["id"]}"' in result.text
    assert result.events[-1].data["status"] == "complete"
    assert await _count(pg_pool, "activities") == 0  # a proposal changes nothing
    lifetime = await pg_pool.fetchval(
        "SELECT extract(epoch FROM expires_at - created_at) FROM coach_proposals"
    )
    assert abs(float(lifetime) - PROPOSAL_TTL_S) < 5

    url = f"/v1/coach/proposals/{proposal['id']}/apply"
    first = await http.post(url, headers=runner.headers)
    second = await http.post(url, headers=runner.headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert await _count(pg_pool, "activities") == 1
    # The apply went through the athlete's save path: a briefing refresh is queued.
    assert (
        await pg_pool.fetchval(
            "SELECT count(*) FROM jobs WHERE kind = 'refresh_briefing' AND subject = $1", runner.id
        )
        == 1
    )


def tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results a model request carried back, parsed, in either dialect."""
    results = []
    for message in request["messages"]:
        if message.get("role") == "tool":  # OpenAI's
            results.append(json.loads(message["content"]))
        elif isinstance(message.get("content"), list):  # Anthropic's tool_result blocks
            for block in message["content"]:
                if block.get("type") == "tool_result":
                    content = block["content"]
                    text = content if isinstance(content, str) else content[0]["text"]
                    results.append(json.loads(text))
    return results


async def _add_activities(pool: asyncpg.Pool, athlete: Athlete, count: int) -> list[str]:
    rows = await pool.fetch(
        """INSERT INTO activities (user_id, sport, started_at, duration_s)
           SELECT $1, 'run', now() - make_interval(hours => n), 1800
           FROM generate_series(1, $2) AS n RETURNING id""",
        uuid.UUID(athlete.id),
        count,
    )
    return [str(row["id"]) for row in rows]


async def test_read_tools_reach_the_model_with_the_athletes_own_data(
    http: httpx.AsyncClient,
    runner: Athlete,
    other_runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
) -> None:
    # The other athlete has an activity and a goal; the runner one activity, no goal.
    [others] = await _add_activities(pg_pool, other_runner, 1)
    await pg_pool.execute(
        """INSERT INTO goals (user_id, race_name, race_date, distance_m)
           VALUES ($1, 'Not yours', '2027-04-01', 42195)""",
        uuid.UUID(other_runner.id),
    )
    [mine] = await _add_activities(pg_pool, runner, 1)
    await sim.set_mode(
        mode="normal",
        tool_calls=[
            {"name": "recent_activities", "arguments": {"days": 7}},
            {"name": "race_goal", "arguments": {}},
        ],
    )
    result = await chat(http, runner, "How was my week?")

    done = [event for event in tools(result) if event["status"] != "running"]
    assert [(e["name"], e["status"]) for e in done] == [
        ("recent_activities", "done"),
        ("race_goal", "done"),
    ]
    assert done[0]["summary"] == "1 activity in the last 7 days"
    assert tools(result)[0]["summary"] == "Looking at your last 7 days…"
    assert 'Result of recent_activities: «{"days":7,"activities":[{' in result.text
    assert 'Result of race_goal: «{"goal":null}' in result.text
    assert result.events[-1].data["status"] == "complete"
    # What the model's second round was given: the runner's row only, and no goal.
    activities, goal = tool_results((await sim.stats())["last_request"])
    assert [item["id"] for item in activities["activities"]] == [mine] != [others]
    assert activities["truncated"] is False
    assert goal == {"goal": None}

    # More rows than the cap: the newest MAX_ITEMS (50), flagged as truncated.
    await _add_activities(pg_pool, runner, 50)
    await sim.set_mode(
        mode="normal", tool_calls=[{"name": "recent_activities", "arguments": {"days": 7}}]
    )
    result = await chat(http, runner, "And all of it?")
    [activities] = tool_results((await sim.stats())["last_request"])
    assert len(activities["activities"]) == 50 and activities["truncated"] is True
    assert others not in {item["id"] for item in activities["activities"]}


BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    (
        "propose_activity",
        {"sport": "flying", "started_at": "2026-01-01T07:00:00Z", "duration_s": 60},
        "invalid arguments: sport: Input should be 'run'",
    ),
    (
        "propose_activity",
        {"sport": "run", "started_at": "2026-01-01T07:00:00Z", "duration_s": "3120"},
        "invalid arguments: duration_s: Input should be a valid integer",
    ),
    (
        "propose_goal",
        {"race_name": "City", "race_date": "2027-01-01", "distance_m": 0.0},
        "invalid arguments: distance_m: Input should be greater than or equal to 0.1",
    ),
    ("recent_checkins", {"days": 366}, "invalid arguments: days: Input should be less than"),
    ("training_plan", {"user_id": "someone-else"}, "invalid arguments: user_id: Extra inputs"),
    ("delete_everything", {}, "no tool named 'delete_everything'"),
]


@pytest.mark.parametrize(
    ("name", "arguments", "error"), BAD_CALLS, ids=[c[2][:40] for c in BAD_CALLS]
)
async def test_bad_calls_are_tool_errors_the_model_answers_from(
    http: httpx.AsyncClient,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    name: str,
    arguments: dict[str, Any],
    error: str,
) -> None:
    await sim.set_mode(mode="normal", tool_calls=[{"name": name, "arguments": arguments}])
    label, outcome = (
        ("unknown", "unknown_tool") if error.startswith("no tool") else (name, "invalid_arguments")
    )
    counted_before = _calls(label, outcome)
    timed_before = _timed(label)
    result = await chat(http, runner, "Do something")

    failed = tools(result)[-1]
    assert failed["status"] == "error" and failed["error"].startswith(error), failed
    # The simulator quotes the result's first 80 characters: the error reached the model
    # (flagged as one in Anthropic's dialect; OpenAI's has no flag, the text says it).
    assert f"{name}: «error: {error[:40]}" in result.text
    assert result.events[-1].data["status"] == "complete"
    assert await _count(pg_pool, "coach_proposals") == 0
    # Counted, not timed: the call never ran.
    assert _calls(label, outcome) == counted_before + 1
    assert _timed(label) == timed_before


async def test_the_step_limit_ends_the_reply_in_words(
    http: httpx.AsyncClient, runner: Athlete, sim: LLMSim
) -> None:
    await sim.set_mode(
        mode="normal", tool_calls=[{"name": "training_plan", "arguments": {}}], tool_rounds=10
    )
    result = await chat(http, runner, "Keep looking")

    # COACH_MAX_TOOL_STEPS=2: two rounds of tools, then one offered none (tool_choice none).
    assert [e["status"] for e in tools(result)] == ["running", "done"] * 2
    assert result.text and result.events[-1].data["status"] == "complete"
    stats = await sim.stats()
    assert stats["last_request"]["tool_choice"] in ("none", {"type": "none"})


async def test_a_drop_mid_tool_call_fails_the_reply_and_runs_nothing(
    http: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    call = {
        "name": "propose_activity",
        "arguments": {"sport": "run", "started_at": "2026-01-01T07:00:00Z", "duration_s": 3120},
    }
    # The stream is cut inside the call's arguments: the call is never complete.
    await sim.set_mode(mode="drop", tokens=2, tool_calls=[call])
    result = await chat(http, runner, "Log it")

    assert tools(result) == []
    assert [e.event for e in result.events][-2:] == ["error", "done"]
    assert result.events[-1].data["status"] == "failed"
    assert await _count(pg_pool, "coach_proposals") == 0


async def test_a_retry_with_the_same_key_attaches_and_creates_nothing(
    http: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    headers = {**runner.headers, "Idempotency-Key": str(uuid.uuid4())}
    answers = []
    for _ in range(2):
        async with http.stream(
            "POST", "/v1/coach/chat", json={"message": RUN}, headers=headers
        ) as response:
            answers.append(await read_result(response))
    first, retry = answers
    assert tools(first) and tools(retry) == tools(first)
    assert retry.text == first.text
    assert await _count(pg_pool, "coach_proposals") == 1
    # A resume replays the tool events too.
    message_id = first.events[0].data["message_id"]
    async with http.stream(
        "GET", f"/v1/coach/messages/{message_id}/stream", headers=runner.headers
    ) as response:
        resumed = await read_result(response)
    assert tools(resumed) == tools(first)
    proposal = json.dumps(tools(first)[1]["proposal"], sort_keys=True)
    assert json.dumps(tools(resumed)[1]["proposal"], sort_keys=True) == proposal


async def test_an_upstream_error_before_the_call_runs_nothing(
    http: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    await sim.set_mode(mode="error", status=500)
    result = await chat(http, runner, RUN)

    assert tools(result) == []
    assert [e.event for e in result.events][-2:] == ["error", "done"]
    assert result.events[-1].data["status"] == "failed"
    assert await _count(pg_pool, "coach_proposals") == 0


async def test_a_model_that_hangs_before_its_call_fails_the_reply_in_time(
    http: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    # Silent past LLM_FIRST_TOKEN_TIMEOUT_SECONDS (2 s in the tests), its calls never made.
    await sim.set_mode(mode="hang", tool_calls=[{"name": "race_goal", "arguments": {}}])
    result = await chat(http, runner, RUN)

    assert tools(result) == []
    assert result.of("error")[0].data["code"] == "timeout"
    assert result.events[-1].data["status"] == "failed"
    assert await _count(pg_pool, "coach_proposals") == 0


async def test_a_stall_inside_a_calls_arguments_runs_nothing_and_ends_the_reply(
    http: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    # The call's first fragment at once, the next after LLM_IDLE_TIMEOUT_SECONDS (2 s).
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=3000)
    result = await chat(http, runner, RUN)

    assert tools(result) == []  # never whole, never run
    assert result.of("error")[0].data["code"] == "timeout"
    assert result.events[-1].event == "done" and result.events[-1].data["status"] == "failed"
    assert await _count(pg_pool, "coach_proposals") == 0


@pytest.mark.parametrize("model", ["CLAUDE_HAIKU", "GPT_MINI"])
async def test_arguments_cut_at_max_tokens_are_a_tool_error_not_an_empty_call(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool, model: str
) -> None:
    # Two output tokens: the default mode's propose_activity is cut inside its arguments.
    async with (
        start_coach(DEFAULT_MODEL=model, COACH_MAX_REPLY_TOKENS=2) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
    ):
        result = await chat(http, runner, RUN)

    failed = tools(result)[-1]
    assert failed["name"] == "propose_activity" and failed["status"] == "error", failed
    assert failed["error"].startswith("invalid arguments: "), failed
    assert "cut off at max_tokens" in failed["error"], failed
    assert result.events[-1].event == "done"
    assert await _count(pg_pool, "coach_proposals") == 0


async def test_no_tool_steps_offers_no_tools(
    start_coach: StartCoach, runner: Athlete, sim: LLMSim
) -> None:
    async with (
        start_coach(COACH_MAX_TOOL_STEPS=0) as coach,
        httpx.AsyncClient(base_url=coach.base_url, timeout=30) as http,
    ):
        result = await chat(http, runner, RUN)

    assert tools(result) == [] and result.text
    assert result.events[-1].data["status"] == "complete"
    request = (await sim.stats())["last_request"]
    assert "tools" not in request and "tool_choice" not in request
    assert (await sim.stats())["requests"] == 1
