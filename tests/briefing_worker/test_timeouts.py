"""Jobs that hang, workers that die, reapers that race: no job stays stuck."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
from arq.connections import ArqRedis

from fixtures.core_api import CoreApi, StartCoreApi, register_and_login
from fixtures.infra import free_port
from fixtures.llm_sim import LLMSim
from fixtures.waiting import poll
from fixtures.worker import (
    StartWorker,
    Webhook,
    home,
    insert_overdue_jobs,
    jobs_for,
    reaper_for,
    worker_process,
    worker_values,
)
from pacer_briefing_worker.settings import BriefingWorkerSettings
from pacer_common import redis_names
from pacer_common.jobs import ledger, queue
from pacer_devstack import valkey

CHECKIN = {"sleep_hours": 6.0, "soreness": 3, "mood": 3}


@pytest.fixture
async def subscriber(redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def test_a_hanging_llm_times_out_is_retried_then_fails_while_home_stays_fast(
    job_api: CoreApi,
    start_worker: StartWorker,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    subscriber: redis.Redis,
    clean_state: None,
) -> None:
    await sim.set_mode(mode="hang")
    async with (
        httpx.AsyncClient(base_url=job_api.base_url, timeout=10) as client,
        Webhook() as hook,
    ):
        athlete = await register_and_login(client)
        async with start_worker(JOB_TIMEOUT_SECONDS=2.5, ALERT_WEBHOOK_URL=hook.url):
            assert (
                await client.post("/v1/checkins", json=CHECKIN, headers=athlete.headers)
            ).status_code == 201
            home_latencies: list[float] = []

            async def failed() -> list[ledger.Job] | None:
                started = time.perf_counter()
                briefing = (await home(client, athlete.access_token))["briefing"]
                home_latencies.append(time.perf_counter() - started)
                assert briefing["source"] == "rules"
                jobs = await jobs_for(pg_pool, athlete.id)
                return jobs if jobs and jobs[-1].status == "failed" else None

            jobs = await poll(failed, timeout_s=30, interval_s=0.1, what="the job to fail")
            # The athlete's notification stream (was a pub/sub channel): read it whole.
            entries = await poll(
                lambda: _entries_at_least(subscriber, athlete.id, 3),
                timeout_s=5,
                what="3 job events on the notification stream",
            )
            received: list[dict[str, Any]] = [json.loads(fields["data"]) for _, fields in entries]
            assert [fields["type"] for _, fields in entries] == [e["type"] for e in received]
            await poll(lambda: _async(len(hook.bodies) >= 3), timeout_s=5, what="3 webhook posts")
            after = (await home(client, athlete.access_token))["briefing"]

    assert len(jobs) == 1
    job = jobs[0]
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.error is not None and job.error.startswith("timed out")
    assert job.input == {"athlete_id": athlete.id, "reason": "checkin"}  # kept for a retry
    assert [event["type"] for event in received] == ["job.timed_out", "job.timed_out", "job.failed"]
    assert all(event["job_id"] == str(job.id) for event in received)
    assert [body["type"] for body in hook.bodies] == [
        "job.timed_out",
        "job.timed_out",
        "job.failed",
    ]
    assert (await sim.stats())["requests"] == 3
    # Home never waited on the job; after the failure it says so.
    # Each attempt held the LLM for 2.5 s: home never waited for one.
    assert max(home_latencies) < 1.5, home_latencies
    assert (after["status"], after["source"]) == ("unavailable", "rules")


async def _async(value: Any) -> Any:
    return value


async def _entries_at_least(
    client: redis.Redis, user_id: str, count: int
) -> list[tuple[str, dict[str, str]]] | None:
    entries: list[tuple[str, dict[str, str]]] = await client.xrange(redis_names.notify_key(user_id))
    return entries if len(entries) >= count else None


async def test_a_killed_worker_s_job_is_reaped_after_its_deadline_and_finished_by_a_fresh_worker(
    start_worker: StartWorker,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_url: str,
    migrated_postgres: str,
    tmp_path: Path,
    clean_state: None,
) -> None:
    async with pg_pool.acquire() as conn:
        user_id = await conn.fetchval(
            "INSERT INTO users (email, name, password_hash) VALUES ('k@example.com', 'K', 'x') RETURNING id"
        )
    await sim.set_mode(mode="slow", first_token_ms=60_000)
    timeout_s = 3.0
    env = worker_values(
        migrated_postgres,
        redis_url,
        sim.base_url,
        JOB_TIMEOUT_SECONDS=timeout_s,
        REAPER_INTERVAL_SECONDS=1.0,
    )
    env.pop("LOG_LEVEL")
    with worker_process(env, tmp_path / "worker.log") as process:
        await _queue_refresh(pg_pool, env, user_id)

        async def processing() -> ledger.Job | None:
            jobs = await jobs_for(pg_pool, str(user_id))
            return jobs[0] if jobs and jobs[0].status == "processing" else None

        running = await poll(
            processing, timeout_s=20, what="the job to start; log: " + str(tmp_path)
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=5)
    assert running.deadline_at is not None
    await sim.set_mode(mode="normal")

    async with start_worker(REAPER_INTERVAL_SECONDS=1.0, JOB_TIMEOUT_SECONDS=timeout_s):
        ready_at = time.time()

        async def reaped() -> ledger.Job | None:
            job = await jobs_for(pg_pool, str(user_id))
            return job[0] if job[0].attempts == 2 or job[0].status != "processing" else None

        await poll(reaped, timeout_s=20, interval_s=0.05, what="the reaper")
        noticed_at = time.time()

        async def succeeded() -> ledger.Job | None:
            job = (await jobs_for(pg_pool, str(user_id)))[0]
            return job if job.status == "succeeded" else None

        finished = await poll(succeeded, timeout_s=20, what="the fresh worker to finish the job")
    # Reaped within one reaper interval (plus polling slack) of the deadline,
    # or of the fresh worker's start if that came later.
    assert noticed_at - max(running.deadline_at.timestamp(), ready_at) < 1.0 + 1.5
    assert finished.attempts == 2
    assert finished.outcome is not None and finished.outcome["llm_called"] is True


async def test_two_reapers_at_once_handle_each_stuck_job_exactly_once(
    pg_pool: asyncpg.Pool, redis_url: str, migrated_postgres: str, sim: LLMSim, clean_state: None
) -> None:
    ids = await insert_overdue_jobs(pg_pool, 60)
    settings = BriefingWorkerSettings(**worker_values(migrated_postgres, redis_url, sim.base_url))
    arq = ArqRedis.from_url(redis_url)
    pools = [await asyncpg.create_pool(migrated_postgres, min_size=1, max_size=2) for _ in range(2)]
    try:
        reapers = []
        for pool in pools:
            reapers.append(reaper_for(pool, arq, settings)[0])
        first, second = await asyncio.gather(*(reaper.reap_once() for reaper in reapers))
    finally:
        for pool in pools:
            await pool.close()
        await arq.aclose()
    handled = [job.id for job in first.reaped] + [job.id for job in second.reaped]
    assert sorted(handled) == sorted(ids)  # every job once, none twice
    async with pg_pool.acquire() as conn:
        rows = await conn.fetch("SELECT status, attempts, input FROM jobs")
    assert {(row["status"], row["attempts"]) for row in rows} == {("timed_out", 1)}
    assert all(json.loads(row["input"]) == {"reason": "test"} for row in rows)


async def test_a_job_on_its_last_attempt_is_failed_by_the_reaper_and_an_admin_can_retry_it(
    pg_pool: asyncpg.Pool, redis_url: str, migrated_postgres: str, sim: LLMSim, clean_state: None
) -> None:
    [job_id] = await insert_overdue_jobs(pg_pool, 1, attempts=3)
    settings = BriefingWorkerSettings(**worker_values(migrated_postgres, redis_url, sim.base_url))
    arq = ArqRedis.from_url(redis_url)
    reaper, _ = reaper_for(pg_pool, arq, settings)
    try:
        result = await reaper.reap_once()
        again = await reaper.reap_once()
    finally:
        await arq.aclose()
    assert [(job.id, job.status) for job in result.reaped] == [(job_id, "failed")]
    assert "attempt 3 of 3" in (result.reaped[0].error or "")
    assert again.reaped == []
    async with pg_pool.acquire() as conn:
        retried = await ledger.retry(conn, job_id)
    assert retried is not None
    assert (retried.status, retried.attempts, retried.attempts_before_retry) == ("queued", 3, 3)


async def test_a_webhook_that_hangs_does_not_hold_up_the_reaper(
    pg_pool: asyncpg.Pool, redis_url: str, migrated_postgres: str, sim: LLMSim, clean_state: None
) -> None:
    # A listener that accepts and never answers.
    port = free_port()
    held: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", port)
    await insert_overdue_jobs(pg_pool, 5)
    settings = BriefingWorkerSettings(**worker_values(migrated_postgres, redis_url, sim.base_url))
    arq = ArqRedis.from_url(redis_url)
    reaper, alerts = reaper_for(
        pg_pool,
        arq,
        settings,
        webhook_url=f"http://127.0.0.1:{port}/",
        webhook_timeout_s=5,
        repeat_s=0,
    )
    try:
        started = time.perf_counter()
        result = await reaper.reap_once()
        took = time.perf_counter() - started
        await alerts.aclose()  # the posts are abandoned after aclose()'s drain
    finally:
        server.close()
        for writer in held:
            writer.close()
        await arq.aclose()
    assert len(result.reaped) == 5
    # The posts would take 5 s each to time out: the reaper did not wait for them.
    assert took < 2.0, took


async def test_redis_down_home_still_answers_with_the_rule_based_briefing(
    start_core_api: StartCoreApi, clean_state: None
) -> None:
    # A Redis URL where nothing listens: as if Redis had stopped.
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    async with (
        start_core_api(REDIS_URL=dead_redis) as api,
        httpx.AsyncClient(base_url=api.base_url, timeout=10) as client,
    ):
        athlete = await register_and_login(client)
        saved = await client.post("/v1/checkins", json=CHECKIN, headers=athlete.headers)
        assert saved.status_code == 201  # the data is saved; the refresh waits in the ledger
        started = time.perf_counter()
        briefing = (await home(client, athlete.access_token))["briefing"]
        assert time.perf_counter() - started < 1.5
        ready = await client.get("/health/ready")
    assert (briefing["status"], briefing["source"]) == ("unavailable", "rules")
    assert briefing["text"]
    assert ready.status_code == 503
    assert "redis" in ready.text


async def test_the_reaper_settles_coach_replies_left_streaming_by_a_killed_coach(
    pg_pool: asyncpg.Pool, redis_url: str, migrated_postgres: str, sim: LLMSim, clean_state: None
) -> None:
    async with pg_pool.acquire() as conn:
        user_id = await conn.fetchval(
            "INSERT INTO users (email, name, password_hash) VALUES ('c@example.com', 'C', 'x') RETURNING id"
        )
        conversation = await conn.fetchval(
            "INSERT INTO conversations (user_id, title) VALUES ($1, 't') RETURNING id", user_id
        )
        await conn.execute(
            """INSERT INTO messages (conversation_id, role, content, status, created_at) VALUES
                 ($1, 'assistant', '', 'streaming', now() - interval '2 hours'),
                 ($1, 'assistant', 'Half a', 'streaming', now() - interval '2 hours'),
                 ($1, 'assistant', '', 'streaming', now())""",
            conversation,
        )
    settings = BriefingWorkerSettings(**worker_values(migrated_postgres, redis_url, sim.base_url))
    arq = ArqRedis.from_url(redis_url)
    reaper, _ = reaper_for(pg_pool, arq, settings)
    try:
        result = await reaper.reap_once()
    finally:
        await arq.aclose()
    assert result.abandoned_replies == 2
    async with pg_pool.acquire() as conn:
        rows = await conn.fetch("SELECT content, status, error_code FROM messages ORDER BY content")
    assert sorted((r["content"], r["status"], r["error_code"] or "") for r in rows) == [
        ("", "failed", "interrupted"),
        ("", "streaming", ""),  # a stream still within its time
        ("Half a", "partial", "interrupted"),
    ]


@pytest.fixture
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis of this test's own, to be stopped while the worker runs."""
    port = free_port()
    server = subprocess.Popen(
        valkey.server_command(port, None), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield f"redis://127.0.0.1:{port}/0", server
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(timeout=10)


async def test_sigterm_while_redis_stops_too_still_exits_cleanly(
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    migrated_postgres: str,
    tmp_path: Path,
    own_redis: tuple[str, subprocess.Popen[bytes]],
    clean_state: None,
) -> None:
    # make run stops every process at once: Redis may be gone before the worker.
    own_redis_url, redis_server = own_redis
    await poll(lambda: _pings(own_redis_url), timeout_s=10, what="a throwaway Redis")
    async with pg_pool.acquire() as conn:
        user_id = await conn.fetchval(
            "INSERT INTO users (email, name, password_hash) VALUES ('t@example.com', 'T', 'x') RETURNING id"
        )
    await sim.set_mode(mode="hang")
    env = worker_values(migrated_postgres, own_redis_url, sim.base_url)
    with worker_process(env, tmp_path / "worker.log") as process:
        await _queue_refresh(pg_pool, env, user_id)
        await poll(
            lambda: _status(pg_pool, user_id, "processing"),
            timeout_s=20,
            what="the job to start",
        )
        # As under make run: the worker and Redis are told to stop together.
        process.send_signal(signal.SIGTERM)
        redis_server.terminate()
        code = await asyncio.to_thread(process.wait, 15)
    assert code == 0, (tmp_path / "worker.log").read_text()[-3000:]
    # The interrupted attempt was settled for a retry (Postgres was still up).
    job = (await jobs_for(pg_pool, str(user_id)))[0]
    assert (job.status, job.error) == ("queued", "interrupted: the worker shut down")


async def _pings(url: str) -> bool:
    client = redis.Redis.from_url(url)
    try:
        return bool(await client.ping())
    except redis.ConnectionError:
        return False
    finally:
        await client.aclose()


async def _status(pool: asyncpg.Pool, user_id: UUID, status: str) -> bool:
    jobs = await jobs_for(pool, str(user_id))
    return bool(jobs) and jobs[0].status == status


async def test_a_worker_whose_redis_goes_away_exits_non_zero_for_its_supervisor_to_restart(
    sim: LLMSim,
    migrated_postgres: str,
    tmp_path: Path,
    own_redis: tuple[str, subprocess.Popen[bytes]],
    clean_state: None,
) -> None:
    # clean_state: no job left by an earlier test for this worker's reaper to run, so
    # nothing is mid-run when Redis goes (arq logs a cancelled job with a traceback).
    own_redis_url, redis_server = own_redis
    await poll(lambda: _pings(own_redis_url), timeout_s=10, what="a throwaway Redis")
    env = worker_values(migrated_postgres, own_redis_url, sim.base_url)
    with worker_process(env, tmp_path / "worker.log") as process:
        health = f"http://127.0.0.1:{env['BRIEFING_WORKER_PORT']}/health"
        await poll(lambda: _answers(health), timeout_s=20, what="the worker's /health")
        redis_server.terminate()
        code = await asyncio.to_thread(process.wait, 20)
    log = (tmp_path / "worker.log").read_text()
    assert code == 1, log[-3000:]
    assert "briefing_worker_loop_ended" in log
    assert "Traceback" not in log


async def _answers(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2) as client:
        try:
            return (await client.get(url)).status_code == 200
        except httpx.TransportError:
            return False


async def _queue_refresh(pool: asyncpg.Pool, env: dict[str, Any], athlete_id: UUID) -> None:
    """What a check-in does: a ledger row and its arq entry, on the worker's Redis."""
    arq = ArqRedis.from_url(env["REDIS_URL"])
    try:
        await queue.request_briefing_refresh(
            pool,
            arq,
            BriefingWorkerSettings(**env),
            athlete_id,
            reason="test",
            data_changed=True,
            debounce=False,
        )
    finally:
        await arq.aclose()
