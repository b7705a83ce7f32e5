"""POST /v1/coach/sessions/{id}/complete: the hybrid wait (issue 12, point 3).

The worker's side is played in SQL (fixtures.coach_sessions.finish_extraction),
after a delay: the extraction's duration. ``complete`` waits up to
``Prefer: wait`` seconds for the session to leave ``extracting``: 200 with the
result if it did, else 202 with Location / Retry-After / Preference-Applied;
calling it again is always safe, and never a second extraction job.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from fixtures.coach import Coach, StartCoach, coach_settings
from fixtures.coach_sessions import (
    ONBOARDING_RESULT,
    complete,
    create_session,
    extraction_jobs,
    finish_extraction,
    say,
)
from fixtures.core_api import Athlete
from fixtures.extraction import insert_ended_session
from fixtures.llm_sim import LLMSim
from fixtures.waiting import poll
from pacer_coach.extraction import JobQueue
from pacer_common import redis_names
from pacer_common.jobs import ledger
from pacer_common.jobs.queue import EXTRACTION, arq_job_id

pytestmark = pytest.mark.usefixtures("session_topics")


async def talked_session(client: httpx.AsyncClient, athlete: Athlete) -> str:
    session = await create_session(client, athlete)
    assert (await say(client, athlete, session["id"])).status_code == 200
    return str(session["id"])


async def complete_during_extraction(
    client: httpx.AsyncClient,
    athlete: Athlete,
    pool: asyncpg.Pool,
    session_id: str,
    prefer: str | None,
    **outcome: Any,
) -> httpx.Response:
    """``complete`` while the worker's side ends the extraction with ``outcome``
    (finish_extraction's result or error, after_s) at the same time."""
    response, _ = await asyncio.gather(
        complete(client, athlete, session_id, prefer),
        finish_extraction(pool, session_id, **outcome),
    )
    return response


async def test_a_slow_extraction_is_202_after_the_wait_then_200_with_the_result(
    coach: Coach,
    coach_client: httpx.AsyncClient,
    runner: Athlete,
    sim: LLMSim,
    pg_pool: asyncpg.Pool,
    redis_client: redis.Redis,
) -> None:
    session_id = await talked_session(coach_client, runner)
    started = time.monotonic()
    waited = await complete(coach_client, runner, session_id, "wait=1")
    elapsed = time.monotonic() - started
    assert waited.status_code == 202, waited.text
    assert 0.9 <= elapsed < 3.0, elapsed
    assert waited.headers["location"] == f"/v1/coach/sessions/{session_id}"
    assert int(waited.headers["retry-after"]) >= 1
    assert waited.headers["preference-applied"] == "wait=1"
    assert waited.json()["status"] == "extracting" and waited.json()["result"] is None
    jobs = await extraction_jobs(pg_pool, session_id)
    assert len(jobs) == 1 and jobs[0]["status"] == "queued"
    assert (
        await redis_client.zscore(redis_names.DEFAULT_JOB_QUEUE_NAME, arq_job_id(jobs[0]["id"], 1))
        is not None
    )

    polled = await coach_client.get(waited.headers["location"], headers=runner.headers)
    assert polled.json()["status"] == "extracting"
    await finish_extraction(pg_pool, session_id, result=ONBOARDING_RESULT)
    done = await complete(coach_client, runner, session_id, "wait=1")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert done.json()["result"] == ONBOARDING_RESULT
    again = await complete(coach_client, runner, session_id)
    assert again.status_code == 200 and again.json()["result"] == ONBOARDING_RESULT
    assert "preference-applied" not in again.headers  # no Prefer sent, none applied
    read = await coach_client.get(f"/v1/coach/sessions/{session_id}", headers=runner.headers)
    assert read.json()["result"] == ONBOARDING_RESULT and read.json()["completed_at"]
    assert len(await extraction_jobs(pg_pool, session_id)) == 1
    metrics = (await coach_client.get(coach.metrics_url)).text
    assert 'coach_sessions_ended_total{reason="complete"}' in metrics
    assert 'coach_session_complete_answers_total{status="extracting"}' in metrics
    assert 'coach_session_complete_answers_total{status="completed"}' in metrics


async def test_an_extraction_done_within_the_wait_answers_200_inline(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    session_id = await talked_session(coach_client, runner)
    started = time.monotonic()
    response = await complete_during_extraction(
        coach_client, runner, pg_pool, session_id, "wait=10", result=ONBOARDING_RESULT, after_s=0.5
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    # It stopped waiting when the result came, not at the end of the 10 s.
    assert elapsed < 3.0, elapsed
    assert response.headers["preference-applied"] == "wait=10"
    assert "location" not in response.headers
    assert response.json()["status"] == "completed"
    assert response.json()["result"] == ONBOARDING_RESULT


async def test_completing_again_while_extracting_is_202_and_one_job(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    session_id = await talked_session(coach_client, runner)
    answers = await asyncio.gather(
        *(complete(coach_client, runner, session_id, "wait=0") for _ in range(3))
    )
    assert [answer.status_code for answer in answers] == [202, 202, 202]
    jobs = await extraction_jobs(pg_pool, session_id)
    assert len(jobs) == 1
    job_id = await pg_pool.fetchval(
        "SELECT extraction_job_id FROM coach_sessions WHERE id = $1", uuid.UUID(session_id)
    )
    assert job_id == jobs[0]["id"]
    # The input names the owner too: the worker tells them of the job without a lookup.
    assert json.loads(jobs[0]["input"]) == {"session_id": session_id, "user_id": runner.id}


async def test_the_default_wait_applies_without_prefer_and_other_preferences_are_ignored(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    for prefer in (None, "respond-async, handling=lenient"):
        session_id = await talked_session(coach_client, runner)
        response = await complete_during_extraction(
            coach_client, runner, pg_pool, session_id, prefer, result=ONBOARDING_RESULT, after_s=0.3
        )
        # The default wait (EXTRACTION_INLINE_WAIT_SECONDS, 10) outlasted the extraction.
        assert response.status_code == 200, (prefer, response.text)
        assert "preference-applied" not in response.headers


async def test_a_wait_above_the_cap_is_capped_at_25_and_says_so(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    session_id = await talked_session(coach_client, runner)
    response = await complete_during_extraction(
        coach_client,
        runner,
        pg_pool,
        session_id,
        'wait="3600"',
        result=ONBOARDING_RESULT,
        after_s=0.3,
    )
    assert response.status_code == 200
    assert response.headers["preference-applied"] == "wait=25"


async def test_a_failed_extraction_is_200_with_the_error_and_complete_retries_it(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    session_id = await talked_session(coach_client, runner)
    failed = await complete_during_extraction(
        coach_client,
        runner,
        pg_pool,
        session_id,
        "wait=10",
        error="invalid output after 3 attempts",
        after_s=0.3,
    )
    # A final state the client can act on: show the error, or call complete again.
    assert failed.status_code == 200, failed.text
    body = failed.json()
    assert body["status"] == "extraction_failed"
    assert body["error"] == "invalid output after 3 attempts"
    assert body["result"] is None and "raw_output" not in body

    retried = await complete(coach_client, runner, session_id, "wait=0")
    assert retried.status_code == 202
    assert retried.json()["status"] == "extracting" and retried.json()["error"] is None
    jobs = await extraction_jobs(pg_pool, session_id)
    assert [job["status"] for job in jobs] == ["failed", "queued"]
    await finish_extraction(pg_pool, session_id, result=ONBOARDING_RESULT)
    done = await complete(coach_client, runner, session_id, "wait=0")
    assert done.status_code == 200 and done.json()["result"] == ONBOARDING_RESULT
    assert len(await extraction_jobs(pg_pool, session_id)) == 2


async def test_messages_after_complete_are_409(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    session_id = await talked_session(coach_client, runner)
    assert (await complete(coach_client, runner, session_id, "wait=0")).status_code == 202
    refused = await say(coach_client, runner, session_id, "Wait, one more thing")
    assert refused.status_code == 409
    assert refused.body is not None and refused.body["error"]["code"] == "session_not_active"


async def test_with_redis_away_complete_still_answers_and_the_job_waits_in_the_ledger(
    start_coach: StartCoach, runner: Athlete, pg_pool: asyncpg.Pool, session_topics: None
) -> None:
    """The enqueue after the commit fails; the ledger row stays queued for the worker's
    reaper (JOB_QUEUED_GRACE_SECONDS), and the client is told to poll, not a 5xx."""
    session_id = str(
        await pg_pool.fetchval(
            """WITH c AS (INSERT INTO conversations (user_id, title) VALUES ($1, 't') RETURNING id)
               INSERT INTO coach_sessions (user_id, topic_id, conversation_id)
               SELECT $1, (SELECT id FROM topics WHERE slug = 'onboarding'), c.id FROM c
               RETURNING id""",
            uuid.UUID(runner.id),
        )
    )
    async with start_coach(REDIS_URL="redis://127.0.0.1:1/0") as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as client:
            response = await complete(client, runner, session_id, "wait=0")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "extracting"
    assert [job["status"] for job in await extraction_jobs(pg_pool, session_id)] == ["queued"]


async def test_a_message_over_the_quota_is_429_and_not_a_turn(
    coach_client: httpx.AsyncClient, runner: Athlete, sim: LLMSim, pg_pool: asyncpg.Pool
) -> None:
    session_id = await talked_session(coach_client, runner)
    await pg_pool.execute(
        "UPDATE chat_quota SET used = 50 WHERE user_id = $1", uuid.UUID(runner.id)
    )
    refused = await say(coach_client, runner, session_id)
    assert refused.status_code == 429 and refused.body is not None
    assert refused.body["error"]["code"] == "quota_exceeded"
    turns = await pg_pool.fetchval(
        "SELECT user_turns FROM coach_sessions WHERE id = $1", uuid.UUID(session_id)
    )
    assert turns == 1
    assert (await sim.stats())["requests"] == 1


async def test_a_waiting_complete_answers_202_at_once_when_the_coach_drains(
    start_coach: StartCoach, runner: Athlete, pg_pool: asyncpg.Pool, session_topics: None
) -> None:
    """A restart does not cut a waiting client off: it gets its 202 and polls another coach."""
    async with start_coach() as coach:
        async with httpx.AsyncClient(base_url=coach.base_url, timeout=30) as client:
            session_id = (await create_session(client, runner))["id"]
            waiting = asyncio.create_task(complete(client, runner, session_id, "wait=20"))

            async def extracting() -> bool:
                status = await pg_pool.fetchval(
                    "SELECT status FROM coach_sessions WHERE id = $1", uuid.UUID(session_id)
                )
                return bool(status == "extracting")

            await poll(extracting, timeout_s=10, interval_s=0.02, what="complete to close it")
            started = time.monotonic()
            coach.stop.set()
            response = await waiting
            elapsed = time.monotonic() - started
    assert response.status_code == 202, response.text
    assert elapsed < 3.0, elapsed


async def test_the_job_queue_is_built_once_connects_lazily_and_never_raises(
    migrated_postgres: str,
    jwt_key_files: tuple[Path, Path],
    llm_sim: LLMSim,
    redis_url: str,
    redis_client: redis.Redis,
    pg_pool: asyncpg.Pool,
    clean_state: None,
) -> None:
    """JobQueue.connect opens nothing: a Redis that is down costs a warning at the
    enqueue (the ledger row waits for the reaper), and the same queue serves every
    request once Redis answers."""
    session = await insert_ended_session(pg_pool)
    submitted = ledger.Submitted(session.job_id, EXTRACTION, created=True, status="queued")
    down = JobQueue.connect(coach_settings(migrated_postgres, jwt_key_files, llm_sim.base_url))
    await down.enqueue(submitted)
    await down.aclose()
    jobs = JobQueue.connect(
        coach_settings(migrated_postgres, jwt_key_files, llm_sim.base_url, REDIS_URL=redis_url)
    )
    try:
        await jobs.enqueue(submitted)
        await jobs.enqueue(submitted)  # the same attempt twice: arq keeps one entry
    finally:
        await jobs.aclose()
    queued = await redis_client.zrange(redis_names.DEFAULT_JOB_QUEUE_NAME, 0, -1)
    assert queued == [arq_job_id(session.job_id, 1)]
