"""A briefing cache entry that cannot be decoded is as good as missing: home
still queues a refresh, and the worker's refresh overwrites the entry."""

from __future__ import annotations

from uuid import UUID

import httpx
import pytest
import redis.asyncio as redis

from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from fixtures.worker import StartWorker, home_briefing, poll_fresh_briefing
from pacer_common import redis_names
from pacer_common.jobs import briefing_cache

MALFORMED = {
    "missing_fields": '{"text": "from an older version"}',
    "not_json": "not json at all",
    "bad_timestamp": (
        '{"text": "t", "model": "CLAUDE_HAIKU", "fingerprint": "f", '
        '"generated_at": "yesterday", "checked_at": "yesterday"}'
    ),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_cache_entry_reads_as_missing(
    redis_client: redis.Redis, raw: str, clean_state: None
) -> None:
    athlete_id = UUID(int=7)
    await redis_client.set(redis_names.briefing_key(athlete_id), raw)
    await redis_client.set(redis_names.briefing_failure_key(athlete_id), '{"at": 1}')

    entry = await briefing_cache.read(redis_client, athlete_id)

    assert (entry.briefing, entry.failure) == (None, None)


async def test_home_queues_a_refresh_over_a_malformed_entry_and_the_worker_replaces_it(
    job_client: httpx.AsyncClient,
    job_athlete: Athlete,
    start_worker: StartWorker,
    sim: LLMSim,
    redis_client: redis.Redis,
) -> None:
    await redis_client.set(redis_names.briefing_key(job_athlete.id), MALFORMED["missing_fields"])
    # Not "unavailable" (as when Redis is down): a refresh is on its way.
    briefing = await home_briefing(job_client, job_athlete.access_token)
    assert (briefing["status"], briefing["source"]) == ("pending", "rules")

    async with start_worker():
        replaced = await poll_fresh_briefing(job_client, job_athlete.access_token, timeout_s=15)
    assert replaced["source"] == "llm"
