"""A saved check-in becomes an LLM briefing on home, through core-api, Redis, arq,
the worker and the simulator; the cache's states as home reports them."""

from __future__ import annotations

import asyncio
import datetime as dt
from uuid import UUID

import asyncpg
import httpx
import redis.asyncio as redis

from fixtures.core_api import Athlete, StartCoreApi, register_and_login
from fixtures.llm_sim import LLMSim
from fixtures.waiting import poll
from fixtures.worker import (
    CHECKIN,
    StartWorker,
    home,
    home_briefing,
    jobs_for,
    poll_fresh_briefing,
    poll_jobs,
)
from pacer_common.jobs import briefing_cache
from pacer_common.jobs.briefing_cache import CachedBriefing, RefreshFailure


async def test_a_checkin_makes_a_fresh_llm_briefing_appear_on_home(
    job_client: httpx.AsyncClient,
    job_athlete: Athlete,
    start_worker: StartWorker,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
) -> None:
    before = await home(job_client, job_athlete.access_token)
    # No worker yet: the rule-based text, and a refresh queued by the home view.
    assert before["briefing"]["source"] == "rules"
    assert before["briefing"]["status"] == "pending"

    saved = await job_client.post("/v1/checkins", json=CHECKIN, headers=job_athlete.headers)
    assert saved.status_code == 201, saved.text
    pending = await home(job_client, job_athlete.access_token)
    assert (pending["briefing"]["status"], pending["briefing"]["source"]) == (
        "pending",
        "rules",
    )

    async with start_worker():
        briefing = await poll_fresh_briefing(job_client, job_athlete.access_token, timeout_s=10)
    assert briefing["source"] == "llm"
    assert briefing["model"] == "CLAUDE_HAIKU"
    assert briefing["text"] and briefing["text"] != before["briefing"]["text"]
    # The home view and the check-in collapsed into one job and one LLM call.
    jobs = await jobs_for(pg_pool, job_athlete.id)
    assert [(job.status, job.attempts) for job in jobs] == [("succeeded", 1)]
    assert jobs[0].outcome is not None and jobs[0].outcome["llm_called"] is True
    assert (await sim.stats())["requests"] == 1
    async with pg_pool.acquire() as conn:
        usage = await conn.fetch(
            "SELECT purpose, outcome FROM llm_usage WHERE user_id = $1", UUID(job_athlete.id)
        )
    assert [(row["purpose"], row["outcome"]) for row in usage] == [("briefing", "ok")]


async def test_fifty_concurrent_triggers_make_one_job_and_one_llm_call(
    start_core_api: StartCoreApi,
    start_worker: StartWorker,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    clean_state: None,
) -> None:
    async with (
        start_core_api() as api,
        httpx.AsyncClient(base_url=api.base_url, timeout=30) as client,
    ):
        athlete = await register_and_login(client)
        saves = await asyncio.gather(
            *(client.post("/v1/checkins", json=CHECKIN, headers=athlete.headers) for _ in range(50))
        )
        assert sorted({save.status_code for save in saves}) == [200, 201]
        # The worker starts after the burst, so that how fast this machine
        # serves 50 saves cannot matter: they all joined one queued job.
        async with start_worker():
            jobs = await poll_jobs(
                pg_pool,
                athlete.id,
                lambda jobs: bool(jobs) and all(job.status == "succeeded" for job in jobs),
                timeout_s=15,
                what="the refresh to finish",
            )
    assert len(jobs) == 1
    assert (await sim.stats())["requests"] == 1


async def test_unchanged_inputs_confirm_the_briefing_without_an_llm_call(
    job_client: httpx.AsyncClient,
    job_athlete: Athlete,
    start_worker: StartWorker,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
) -> None:
    athlete_id = UUID(job_athlete.id)
    async with start_worker():
        await job_client.post("/v1/checkins", json=CHECKIN, headers=job_athlete.headers)
        first = await poll(
            lambda: _cached(redis_client, athlete_id), timeout_s=10, what="a cached briefing"
        )
        # The same check-in saved again: a job runs, reads the same data, skips the LLM.
        again = await job_client.post("/v1/checkins", json=CHECKIN, headers=job_athlete.headers)
        assert again.status_code == 200
        jobs = await poll_jobs(
            pg_pool,
            job_athlete.id,
            lambda jobs: len(jobs) == 2 and jobs[1].status == "succeeded",
            timeout_s=10,
            what="the second refresh",
        )
    assert jobs[1].outcome is not None and jobs[1].outcome["llm_called"] is False
    assert (await sim.stats())["requests"] == 1
    second = await _cached(redis_client, athlete_id)
    assert second is not None
    assert second.text == first.text and second.generated_at == first.generated_at
    assert second.checked_at > first.checked_at


async def _cached(client: redis.Redis, athlete_id: UUID) -> CachedBriefing | None:
    return (await briefing_cache.read(client, athlete_id)).briefing


async def _put(client: redis.Redis, athlete_id: UUID, age: dt.timedelta) -> CachedBriefing:
    at = dt.datetime.now(dt.UTC) - age
    briefing = CachedBriefing("Easy 30 minutes today.", "CLAUDE_HAIKU", "f" * 32, at, at)
    await briefing_cache.write(client, athlete_id, briefing)
    return briefing


async def test_home_serves_stale_then_falls_back_to_rules_and_queues_a_refresh(
    job_client: httpx.AsyncClient,
    job_athlete: Athlete,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
) -> None:
    athlete_id = UUID(job_athlete.id)

    async def briefing_aged(age: dt.timedelta) -> tuple[str, str, str]:
        await _put(redis_client, athlete_id, age)
        briefing = await home_briefing(job_client, job_athlete.access_token)
        return briefing["status"], briefing["source"], briefing["text"]

    fresh = await briefing_aged(dt.timedelta(seconds=60))
    assert fresh == ("fresh", "llm", "Easy 30 minutes today.")
    assert await jobs_for(pg_pool, job_athlete.id) == []  # fresh: nothing queued

    stale = await briefing_aged(dt.timedelta(minutes=20))
    assert stale == ("stale", "llm", "Easy 30 minutes today.")
    assert [job.status for job in await jobs_for(pg_pool, job_athlete.id)] == ["queued"]

    await _put(redis_client, athlete_id, dt.timedelta(hours=2))
    expired = await home_briefing(job_client, job_athlete.access_token)
    assert (expired["status"], expired["source"]) == ("pending", "rules")
    # Still the one queued job: home views collapse into it.
    assert [job.status for job in await jobs_for(pg_pool, job_athlete.id)] == ["queued"]


async def test_home_says_unavailable_after_a_failed_refresh_and_does_not_hammer_the_llm(
    job_client: httpx.AsyncClient,
    job_athlete: Athlete,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
) -> None:
    await briefing_cache.record_failure(
        redis_client, UUID(job_athlete.id), RefreshFailure(dt.datetime.now(dt.UTC), "timed out")
    )
    for _ in range(3):
        briefing = await home_briefing(job_client, job_athlete.access_token)
        assert (briefing["status"], briefing["source"]) == ("unavailable", "rules")
    assert await jobs_for(pg_pool, job_athlete.id) == []


async def test_home_still_answers_when_redis_refuses_writes(
    job_client: httpx.AsyncClient,
    job_athlete: Athlete,
    redis_client: redis.Redis,
    pg_pool: asyncpg.Pool,
) -> None:
    # Production's Redis runs `noeviction`: full, it still answers reads but refuses writes.
    await _put(
        redis_client, UUID(job_athlete.id), dt.timedelta(hours=2)
    )  # expired: home asks for a refresh
    before = await redis_client.config_get("maxmemory*")
    await redis_client.config_set("maxmemory-policy", "noeviction")
    await redis_client.config_set("maxmemory", 1)
    try:
        response = await job_client.get("/v1/home", headers=job_athlete.headers)
    finally:
        await redis_client.config_set("maxmemory", before["maxmemory"])
        await redis_client.config_set("maxmemory-policy", before["maxmemory-policy"])
    assert response.status_code == 200, response.text
    briefing = response.json()["briefing"]
    assert (briefing["status"], briefing["source"]) == ("unavailable", "rules")
    assert await jobs_for(pg_pool, job_athlete.id) == []
