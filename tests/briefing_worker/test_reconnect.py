"""Saves made while Redis was down get their briefing as soon as the worker
(re)connects, not JOB_QUEUED_GRACE_SECONDS later."""

from __future__ import annotations

import asyncpg
import httpx

from fixtures.core_api import StartCoreApi, register_and_login
from fixtures.infra import free_port
from fixtures.llm_sim import LLMSim
from fixtures.worker import CHECKIN, JOB_SETTINGS, StartWorker, jobs_for, poll_jobs


async def test_a_save_made_while_redis_was_down_runs_once_the_worker_connects(
    start_core_api: StartCoreApi,
    start_worker: StartWorker,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    clean_state: None,
) -> None:
    # core-api's Redis is gone: the save commits and its job waits in the
    # ledger with no queue entry.
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    async with (
        start_core_api(REDIS_URL=dead_redis, **JOB_SETTINGS) as api,
        httpx.AsyncClient(base_url=api.base_url, timeout=10) as client,
    ):
        athlete = await register_and_login(client)
        saved = await client.post("/v1/checkins", json=CHECKIN, headers=athlete.headers)
        assert saved.status_code == 201, saved.text
    [waiting] = await jobs_for(pg_pool, athlete.id)
    assert (waiting.status, waiting.attempts) == ("queued", 0)

    # A worker connecting to the (working) Redis; the grace stays at its
    # production default, so only the start-up's enqueue can be this quick.
    async with start_worker(JOB_QUEUED_GRACE_SECONDS=120.0, REAPER_INTERVAL_SECONDS=1.0):
        [done] = await poll_jobs(
            pg_pool,
            athlete.id,
            lambda jobs: [job.status for job in jobs] == ["succeeded"],
            timeout_s=15,
            what="the waiting job to run",
        )
    assert done.id == waiting.id
    assert done.attempts == 1
    assert (await sim.stats())["requests"] == 1
