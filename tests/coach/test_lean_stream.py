"""The streaming path's per-token cost (issue 14): what a flowing reply asks of Redis,
and that its SSE carries the log's JSON exactly as the producer wrote it."""

from __future__ import annotations

import httpx
import redis.asyncio as redis

from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from pacer_common import redis_names


async def _calls(client: redis.Redis, command: str) -> int:
    stats = await client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def _blocks(raw: str) -> list[dict[str, str]]:
    blocks = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            if name and not line.startswith(":"):
                fields[name] = value
        if "event" in fields:
            blocks.append(fields)
    return blocks


async def test_a_flowing_reply_refreshes_its_heartbeat_about_once_a_second_not_per_window(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, redis_client: redis.Redis
) -> None:
    # ~2 s of text at one token per 50 ms: some 50 writer windows of 40 ms, and
    # about 13 delta entries (a reply's window grows to at most 150 ms; 8 leaves
    # room for a busy machine), still more than the beats.
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=50, tokens=40)
    exists_before = await _calls(redis_client, "exists")
    set_before = await _calls(redis_client, "set")
    xadd_before = await _calls(redis_client, "xadd")
    response = await coach_client.post(
        "/v1/coach/chat", json={"message": "Talk to me slowly"}, headers=runner.headers
    )
    events = _blocks(response.text)
    assert events[-1]["event"] == "done"
    deltas = [event for event in events if event["event"] == "delta"]
    entries = await _calls(redis_client, "xadd") - xadd_before
    assert len(deltas) >= 8, "the reply was not written window by window"
    assert entries >= len(deltas)
    # The heartbeat (SET) and the cancel check (EXISTS) once a second, not with each
    # window's entry (the old pipeline sent both with every one of them).
    assert await _calls(redis_client, "exists") - exists_before <= 6
    assert await _calls(redis_client, "set") - set_before <= 6


async def test_each_event_carries_its_log_entry_as_written(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, redis_client: redis.Redis
) -> None:
    await sim.set_mode(mode="slow", first_token_ms=0, token_ms=5, tokens=30)
    response = await coach_client.post(
        "/v1/coach/chat", json={"message": "Tell me"}, headers=runner.headers
    )
    events = _blocks(response.text)
    meta = events[0]
    assert meta["event"] == "meta" and meta["retry"] == "1000"
    assert all("retry" not in event for event in events[1:]), "retry: is sent once"
    message_id = meta["data"].split('"message_id":"')[1].split('"')[0]
    logged = await redis_client.xrange(redis_names.reply_log_key(message_id))
    assert [(event["id"], event["event"], event["data"]) for event in events] == [
        (entry_id, fields["t"], fields["d"]) for entry_id, fields in logged
    ]
