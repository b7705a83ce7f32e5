"""A coaching session's extraction job, end to end with the real worker, Postgres,
Redis and the simulator: valid output completes the session, invalid output is
retried and ends 'extraction_failed' (raw output kept, owner notified), an admin
retry completes it, a topic's model change applies to the next extraction, a
slow model times out and is retried with its input kept, and the simulator's
default mode completes it through each provider's structured output."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
from arq.connections import ArqRedis

from fixtures.core_api import Athlete, CoreApi, register_and_login
from fixtures.extraction import (
    VALID_ONBOARDING,
    VALIDATED_ONBOARDING,
    EndedSession,
    enqueue_extraction,
    insert_ended_session,
    notifications,
    queue_extraction,
    session_row,
)
from fixtures.llm_client import sample
from fixtures.llm_sim import LLMSim
from fixtures.processes import run_module
from fixtures.waiting import poll
from fixtures.worker import StartWorker, jobs_for, reap
from pacer_briefing_worker.settings import BriefingWorkerSettings
from pacer_common import redis_names
from pacer_common.jobs import ledger, queue
from pacer_common.jobs.ledger import Job
from pacer_common.topics import validate_result

ANTHROPIC, OPENAI = "/v1/messages", "/v1/chat/completions"


@pytest.fixture
async def arq(redis_url: str) -> AsyncIterator[ArqRedis]:
    client = ArqRedis.from_url(redis_url)
    yield client
    await client.aclose()


async def the_job(pool: asyncpg.Pool, session: EndedSession) -> Job:
    jobs = await jobs_for(pool, str(session.id))
    assert len(jobs) == 1, jobs
    return jobs[0]


async def poll_session(
    pool: asyncpg.Pool, session: EndedSession, status: str, *, timeout_s: float
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        row = await session_row(pool, session.id)
        return row if row["status"] == status else None

    row: dict[str, Any] = await poll(check, timeout_s=timeout_s, what=f"session {status}")
    return row


async def extract_with(client: httpx.AsyncClient, admin: Athlete, model_code: str) -> None:
    """The admin sets the onboarding topic's extraction model (no restart needed)."""
    changed = await client.put(
        "/v1/admin/topics/onboarding",
        json={"conversation_config": {"extraction_model_code": model_code}},
        headers=admin.headers,
    )
    assert changed.status_code == 200, changed.text


async def extraction_usage(pool: asyncpg.Pool, column: str) -> list[Any]:
    """One column of the extractions' llm_usage rows, oldest first."""
    rows = await pool.fetch(
        f"SELECT {column} FROM llm_usage WHERE purpose = 'extraction' ORDER BY id"
    )
    return [row[column] for row in rows]


def finished(outcome: str) -> float:
    return sample("jobs_finished_total", kind="extraction", outcome=outcome)


async def test_valid_json_completes_the_session_with_one_llm_call(
    start_worker: StartWorker,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
    arq: ArqRedis,
    clean_state: None,
) -> None:
    # A fence around the object is tolerated.
    await sim.set_mode(mode="normal", text="```json\n" + json.dumps(VALID_ONBOARDING) + "\n```")
    succeeded_before = finished("succeeded")
    async with start_worker() as worker:
        session = await queue_extraction(pg_pool, arq, worker.settings)
        row = await poll_session(pg_pool, session, "completed", timeout_s=30)

    assert row["result"] == VALIDATED_ONBOARDING
    assert row["completed_at"] is not None and row["error"] is None and row["raw_output"] is None
    stats = await sim.stats()
    assert stats["requests"] == 1
    assert stats["by_endpoint"][ANTHROPIC] == 1 and stats["by_model"] == {"claude-haiku-4-5": 1}
    job = await the_job(pg_pool, session)
    assert (job.status, job.attempts, job.input) == (
        "succeeded",
        1,
        {"session_id": str(session.id), "user_id": str(session.user_id)},
    )
    assert job.outcome is not None and job.outcome["llm_called"] is True
    assert finished("succeeded") == succeeded_before + 1

    events = await notifications(redis_client, session.user_id)
    assert [kind for kind, _ in events] == ["session.completed"]
    data = events[0][1]
    assert (data["session_id"], data["status"], data["topic"]) == (
        str(session.id),
        "completed",
        "onboarding",
    )
    assert data["result"] == VALIDATED_ONBOARDING

    usage = await pg_pool.fetch(
        "SELECT purpose, model_code, input_tokens, output_tokens, cost_usd, outcome FROM llm_usage"
        " WHERE user_id = $1",
        session.user_id,
    )
    assert [(u["purpose"], u["model_code"], u["outcome"]) for u in usage] == [
        ("extraction", "CLAUDE_HAIKU", "ok")
    ]
    assert usage[0]["input_tokens"] > 0 and usage[0]["output_tokens"] > 0
    assert usage[0]["cost_usd"] > Decimal(0)


async def test_invalid_output_is_retried_then_fails_and_an_admin_retry_completes_it(
    start_worker: StartWorker,
    job_api: CoreApi,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
    arq: ArqRedis,
    clean_state: None,
) -> None:
    invalid = "Sure! Here is the data: {race_name: Berlin"
    await sim.set_mode(mode="normal", text=invalid)
    failed_before = finished("failed")
    async with (
        httpx.AsyncClient(base_url=job_api.base_url, timeout=10) as client,
        start_worker() as worker,
    ):
        admin = await register_and_login(client, email="boss@example.com")
        session = await queue_extraction(pg_pool, arq, worker.settings)
        row = await poll_session(pg_pool, session, "extraction_failed", timeout_s=30)
        job = await the_job(pg_pool, session)
        assert (job.status, job.attempts) == ("failed", 3)  # JOB_MAX_ATTEMPTS
        assert (
            job.error is not None and "invalid extraction from CLAUDE_HAIKU: not JSON" in job.error
        )
        assert job.input == {
            "session_id": str(session.id),
            "user_id": str(session.user_id),
        }  # kept for a retry
        assert (await sim.stats())["requests"] == 3
        assert finished("failed") == failed_before + 1
        assert row["raw_output"] == invalid
        assert row["error"] == job.error and row["result"] is None
        events = await poll(
            lambda: _events_at_least(redis_client, session.user_id, 4),
            timeout_s=5,
            what="4 events on the owner's stream",
        )
        assert [kind for kind, _ in events] == [
            "job.attempt_failed",
            "job.attempt_failed",
            "job.failed",
            "session.extraction_failed",
        ]
        assert events[-1][1] == {
            "session_id": str(session.id),
            "status": "extraction_failed",
            "topic": "onboarding",
            "job_id": str(job.id),
            "at": events[-1][1]["at"],
        }
        # Nothing went to a stream named after the session (the job's subject).
        assert await redis_client.exists(redis_names.notify_key(session.id)) == 0
        # The admin's jobs routes list it like a briefing.
        health = (await client.get("/v1/admin/jobs/health", headers=admin.headers)).json()
        assert health["metrics"]["counts"]["failed"] == 1

        await sim.set_mode(mode="normal", text=json.dumps(VALID_ONBOARDING))
        retried = await client.post(f"/v1/admin/jobs/{job.id}/retry", headers=admin.headers)
        assert retried.status_code == 202, retried.text
        assert retried.json()["job"]["kind"] == "extraction"
        row = await poll_session(pg_pool, session, "completed", timeout_s=30)

    assert row["result"] == VALIDATED_ONBOARDING and row["error"] is None
    assert row["raw_output"] == invalid  # the last invalid output, still there for the admin
    assert (await sim.stats())["requests"] == 4
    job = await the_job(pg_pool, session)
    assert (job.status, job.attempts) == ("succeeded", 4)
    assert [kind for kind, _ in await notifications(redis_client, session.user_id)][-1] == (
        "session.completed"
    )


async def _events_at_least(
    client: redis.Redis, user_id: UUID, count: int
) -> list[tuple[str, dict[str, Any]]] | None:
    events = await notifications(client, user_id)
    return events if len(events) >= count else None


async def test_json_of_the_wrong_shape_is_invalid_too_and_kept(
    start_worker: StartWorker, sim: LLMSim, pg_pool: asyncpg.Pool, arq: ArqRedis, clean_state: None
) -> None:
    wrong = json.dumps({**VALID_ONBOARDING, "sessions_per_week": 40, "shoe_size": 44})
    await sim.set_mode(mode="normal", text=wrong)
    async with start_worker(JOB_MAX_ATTEMPTS=1) as worker:
        session = await queue_extraction(pg_pool, arq, worker.settings)
        row = await poll_session(pg_pool, session, "extraction_failed", timeout_s=30)
    assert row["raw_output"] == wrong
    assert "does not match schema onboarding" in row["error"]
    assert "sessions_per_week" in row["error"] and "shoe_size" in row["error"]


async def test_an_admin_model_change_applies_to_the_next_extraction_without_a_restart(
    start_worker: StartWorker,
    job_api: CoreApi,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    arq: ArqRedis,
    clean_state: None,
) -> None:
    await sim.set_mode(mode="normal", text=json.dumps(VALID_ONBOARDING))
    async with (
        httpx.AsyncClient(base_url=job_api.base_url, timeout=10) as client,
        start_worker() as worker,
    ):
        admin: Athlete = await register_and_login(client, email="boss@example.com")
        first = await queue_extraction(pg_pool, arq, worker.settings)
        await poll_session(pg_pool, first, "completed", timeout_s=30)
        assert (await sim.stats())["by_endpoint"] == {ANTHROPIC: 1, OPENAI: 0}

        await extract_with(client, admin, "GPT_MINI")
        second = await queue_extraction(pg_pool, arq, worker.settings, user_id=first.user_id)
        await poll_session(pg_pool, second, "completed", timeout_s=30)

    stats = await sim.stats()
    assert stats["by_endpoint"] == {ANTHROPIC: 1, OPENAI: 1}
    assert stats["by_model"] == {"claude-haiku-4-5": 1, "gpt-4o-mini": 1}
    assert await extraction_usage(pg_pool, "model_code") == ["CLAUDE_HAIKU", "GPT_MINI"]


async def test_a_slow_model_times_out_and_the_retry_completes_with_the_kept_input(
    start_worker: StartWorker,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
    arq: ArqRedis,
    clean_state: None,
) -> None:
    valid = json.dumps(VALID_ONBOARDING)
    await sim.set_mode(mode="slow", first_token_ms=30_000, text=valid)
    # A long enough backoff to switch the simulator back before the retry.
    async with start_worker(JOB_TIMEOUT_SECONDS=2.5, JOB_RETRY_BACKOFF_SECONDS=2.0) as worker:
        session = await queue_extraction(pg_pool, arq, worker.settings)

        async def timed_out() -> Job | None:
            job = await the_job(pg_pool, session)
            return job if job.status == "timed_out" else None

        job = await poll(timed_out, timeout_s=10, what="the first attempt to time out")
        assert job.error is not None and job.error.startswith("timed out")
        assert (await session_row(pg_pool, session.id))["status"] == "extracting"
        await sim.set_mode(mode="normal", text=valid)
        row = await poll_session(pg_pool, session, "completed", timeout_s=30)

    assert row["result"] == VALIDATED_ONBOARDING
    job = await the_job(pg_pool, session)
    assert (job.status, job.attempts, job.input) == (
        "succeeded",
        2,
        {"session_id": str(session.id), "user_id": str(session.user_id)},
    )
    kinds = [kind for kind, _ in await notifications(redis_client, session.user_id)]
    assert kinds == ["job.timed_out", "session.completed"]
    assert await extraction_usage(pg_pool, "outcome") == ["timeout", "ok"]


async def test_an_extraction_waits_for_a_reply_still_streaming_and_reads_its_text(
    start_worker: StartWorker,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    arq: ArqRedis,
    clean_state: None,
) -> None:
    # The athlete called complete while the coach's last reply streamed: its row is
    # 'streaming' and empty until the coach stores it. The extraction must read it.
    await sim.set_mode(mode="normal", text=json.dumps(VALID_ONBOARDING))
    waits = sample("extraction_reply_waits_total")
    async with start_worker() as worker:
        session = await insert_ended_session(pg_pool)
        reply_id = await pg_pool.fetchval(
            """INSERT INTO messages (conversation_id, role, content, status, created_at)
               VALUES ($1, 'assistant', '', 'streaming', now() + interval '1 minute')
               RETURNING id""",
            session.conversation_id,
        )
        await enqueue_extraction(pg_pool, arq, worker.settings, session)

        async def waiting() -> bool:
            return sample("extraction_reply_waits_total") > waits

        await poll(waiting, timeout_s=10, what="the attempt to wait for the reply")
        assert (await sim.stats())["requests"] == 0
        await pg_pool.execute(
            "UPDATE messages SET status = 'complete', content = $2 WHERE id = $1",
            reply_id,
            "Noted: easy long runs on Sundays, strides on Thursdays.",
        )
        row = await poll_session(pg_pool, session, "completed", timeout_s=30)

    assert row["result"] == VALIDATED_ONBOARDING
    stats = await sim.stats()
    assert stats["requests"] == 1
    assert "strides on Thursdays" in json.dumps(stats["last_request"]["messages"])
    assert (await the_job(pg_pool, session)).attempts == 1


async def test_a_completed_session_s_job_keeps_the_first_result_and_calls_no_llm(
    start_worker: StartWorker, sim: LLMSim, pg_pool: asyncpg.Pool, arq: ArqRedis, clean_state: None
) -> None:
    """An attempt that was reaped can still have finished: the next attempt of the
    job finds the session completed and leaves its result alone."""
    session = await insert_ended_session(pg_pool)
    first = {
        "race_name": "First",
        "race_date": "2027-01-01",
        "distance_m": 5000.0,
        "target_time_s": None,
        "sessions_per_week": 3,
        "injuries": [],
    }
    await pg_pool.execute(
        "UPDATE coach_sessions SET status = 'completed', result = $2::jsonb WHERE id = $1",
        session.id,
        json.dumps(first),
    )
    await sim.set_mode(mode="normal", text=json.dumps(VALID_ONBOARDING))
    async with start_worker() as worker:
        async with pg_pool.acquire() as conn:
            job = await ledger.get(conn, session.job_id)
        assert job is not None
        await queue.enqueue_attempt(arq, worker.settings, job, 0.0)

        async def succeeded() -> Job | None:
            current = await the_job(pg_pool, session)
            return current if current.status == "succeeded" else None

        done = await poll(succeeded, timeout_s=15, what="the job to succeed")
    assert done.outcome is not None and done.outcome["llm_called"] is False
    assert (await session_row(pg_pool, session.id))["result"] == first
    assert (await sim.stats())["requests"] == 0


async def test_a_job_reaped_for_the_last_time_fails_its_session_and_tells_the_owner(
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
    arq: ArqRedis,
    worker_settings: BriefingWorkerSettings,
    clean_state: None,
) -> None:
    session = await insert_ended_session(pg_pool)
    # Its last attempt's worker was killed mid-call: processing, past its deadline.
    await pg_pool.execute(
        """UPDATE jobs SET status = 'processing', attempts = 3, started_at = now() - interval '5 minutes',
               heartbeat_at = now() - interval '5 minutes', deadline_at = now() - interval '4 minutes'
           WHERE id = $1""",
        session.job_id,
    )
    result = await reap(pg_pool, arq, worker_settings)
    assert [job.status for job in result.reaped] == ["failed"]
    row = await session_row(pg_pool, session.id)
    assert row["status"] == "extraction_failed"
    assert row["error"].startswith("timed out")
    assert [kind for kind, _ in await notifications(redis_client, session.user_id)] == [
        "job.failed",
        "session.extraction_failed",
    ]


def _cli(settings: BriefingWorkerSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.DATABASE_URL,
        "REDIS_URL": settings.REDIS_URL,
        "JOB_QUEUE_NAME": settings.JOB_QUEUE_NAME,
        "COLUMNS": "200",
    }
    return run_module("pacer_briefing_worker.cli", *args, env=env)


async def test_the_jobs_cli_shows_and_retries_an_extraction_job(
    start_worker: StartWorker,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    worker_settings: BriefingWorkerSettings,
    clean_state: None,
) -> None:
    session = await insert_ended_session(pg_pool)
    await pg_pool.execute(
        """UPDATE jobs SET status = 'failed', attempts = 3, error = 'invalid extraction', finished_at = now()
           WHERE id = $1""",
        session.job_id,
    )
    await pg_pool.execute(
        "UPDATE coach_sessions SET status = 'extraction_failed' WHERE id = $1", session.id
    )
    health = _cli(worker_settings, "health")
    assert "failed" in health.stdout
    retried = _cli(worker_settings, "retry", str(session.job_id))
    assert retried.returncode == 0, retried.stdout + retried.stderr

    await sim.set_mode(mode="normal", text=json.dumps(VALID_ONBOARDING))
    async with start_worker():
        row = await poll_session(pg_pool, session, "completed", timeout_s=30)
    assert row["result"] == VALIDATED_ONBOARDING
    assert (await the_job(pg_pool, session)).status == "succeeded"


async def test_the_reaper_fails_a_session_left_extracting_behind_a_failed_job(
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
    arq: ArqRedis,
    worker_settings: BriefingWorkerSettings,
    clean_state: None,
) -> None:
    """The failure's own session write was lost (Postgres away just then): the
    reaper's backstop settles it, and leaves alone a session whose job lives on."""
    orphan = await insert_ended_session(pg_pool)
    retried = await insert_ended_session(pg_pool)
    await pg_pool.execute(
        "UPDATE jobs SET status = 'failed', attempts = 3, error = 'boom' WHERE id = ANY($1)",
        [orphan.job_id, retried.job_id],
    )
    async with pg_pool.acquire() as conn:
        successor = await ledger.submit(
            conn, "extraction", str(retried.id), {}, run_after_s=60, rerun_if_running=False
        )
    assert successor.created
    await reap(pg_pool, arq, worker_settings, rounds=2)  # once only
    row = await session_row(pg_pool, orphan.id)
    assert (row["status"], row["error"]) == ("extraction_failed", "boom")
    assert (await session_row(pg_pool, retried.id))["status"] == "extracting"
    assert [kind for kind, _ in await notifications(redis_client, orphan.user_id)] == [
        "session.extraction_failed"
    ]


async def test_the_default_simulator_mode_completes_with_each_provider_s_structured_output(
    start_worker: StartWorker,
    job_api: CoreApi,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    arq: ArqRedis,
    clean_state: None,
) -> None:
    """No fixed text: the extraction asks with output_schema, and the simulator answers
    through the provider's feature (Anthropic a call of the forced tool, OpenAI strict
    json_schema) with a valid instance of the topic's schema."""
    async with (
        httpx.AsyncClient(base_url=job_api.base_url, timeout=10) as client,
        start_worker() as worker,
    ):
        admin: Athlete = await register_and_login(client, email="boss@example.com")
        first = await queue_extraction(pg_pool, arq, worker.settings)
        claude = await poll_session(pg_pool, first, "completed", timeout_s=30)
        sent = (await sim.stats())["last_request"]
        assert sent["tool_choice"] == {"type": "tool", "name": "onboarding"}

        await extract_with(client, admin, "GPT_MINI")
        second = await queue_extraction(pg_pool, arq, worker.settings, user_id=first.user_id)
        gpt = await poll_session(pg_pool, second, "completed", timeout_s=30)
        sent = (await sim.stats())["last_request"]
        assert sent["response_format"]["json_schema"]["strict"] is True

    for row in (claude, gpt):
        assert row["error"] is None and row["raw_output"] is None
        assert validate_result("onboarding", row["result"]) == row["result"]
    assert (await sim.stats())["by_endpoint"] == {ANTHROPIC: 1, OPENAI: 1}
