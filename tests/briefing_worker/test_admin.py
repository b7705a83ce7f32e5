"""The jobs ledger's operations: admin endpoints (role checks, counts, stuck,
retry and its bad inputs) and the pacer-jobs CLI (dry run changes nothing)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid

import asyncpg
import httpx
import pytest

from fixtures.core_api import Athlete, CoreApi, register_and_login
from fixtures.errors import assert_error
from fixtures.infra import python_module
from fixtures.processes import run_module
from fixtures.worker import Webhook, insert_overdue_jobs
from pacer_common.jobs import ledger


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> Athlete:
    return await register_and_login(client, email="boss@example.com")  # in ADMIN_EMAILS


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/admin/jobs/health"),
        ("GET", "/v1/admin/jobs/stuck"),
        ("POST", f"/v1/admin/jobs/{uuid.uuid4()}/retry"),
    ],
)
async def test_admin_job_routes_need_a_token_and_the_admin_role(
    client: httpx.AsyncClient, athlete: Athlete, method: str, path: str
) -> None:
    anonymous = await client.request(method, path)
    assert_error(anonymous, 401, "unauthorized")
    athlete_call = await client.request(method, path, headers=athlete.headers)
    assert_error(athlete_call, 403, "forbidden")


async def test_jobs_health_counts_and_status(
    client: httpx.AsyncClient, admin: Athlete, pg_pool: asyncpg.Pool
) -> None:
    healthy = await client.get("/v1/admin/jobs/health", headers=admin.headers)
    assert healthy.status_code == 200
    assert healthy.json()["status"] == "healthy"
    assert healthy.json()["metrics"]["counts"] == dict.fromkeys(ledger.STATUSES, 0)

    await insert_overdue_jobs(pg_pool, 2)
    async with pg_pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO jobs (kind, subject, status, attempts, finished_at)
               VALUES ('refresh_briefing', 'a', 'failed', 3, now()),
                      ('refresh_briefing', 'b', 'succeeded', 1, now()),
                      ('refresh_briefing', 'c', 'queued', 0, NULL)"""
        )
    body = (await client.get("/v1/admin/jobs/health", headers=admin.headers)).json()
    assert body["status"] == "critical"
    assert body["metrics"]["counts"] == {
        "queued": 1,
        "processing": 2,
        "succeeded": 1,
        "failed": 1,
        "timed_out": 0,
    }
    assert body["metrics"]["stuck"] == 2
    assert body["metrics"]["long_running"] == 2  # started 5 minutes ago
    assert body["thresholds"]["max_attempts"] == 3


async def test_stuck_lists_overdue_and_timed_out_jobs_with_their_ages(
    client: httpx.AsyncClient, admin: Athlete, pg_pool: asyncpg.Pool
) -> None:
    overdue = await insert_overdue_jobs(pg_pool, 2)
    async with pg_pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO jobs (kind, subject, status) VALUES ('refresh_briefing', 'fine', 'processing')"""
        )
        await conn.execute(
            """UPDATE jobs SET heartbeat_at = now(), deadline_at = now() + interval '1 minute',
                   started_at = now() WHERE subject = 'fine'"""
        )
    body = (await client.get("/v1/admin/jobs/stuck", headers=admin.headers)).json()
    assert body["count"] == 2
    assert sorted(job["id"] for job in body["jobs"]) == sorted(map(str, overdue))
    assert all(job["running_seconds"] >= 299 for job in body["jobs"])
    assert all(job["status"] == "processing" for job in body["jobs"])


async def test_retry_queues_a_failed_job_again(
    client: httpx.AsyncClient, admin: Athlete, pg_pool: asyncpg.Pool
) -> None:
    async with pg_pool.acquire() as conn:
        job_id = await conn.fetchval(
            """INSERT INTO jobs (kind, subject, status, attempts, error, input, finished_at)
               VALUES ('refresh_briefing', $1, 'failed', 3, 'timed out', '{"k": 1}', now()) RETURNING id""",
            str(uuid.uuid4()),
        )
    retried = await client.post(f"/v1/admin/jobs/{job_id}/retry", headers=admin.headers)
    assert retried.status_code == 202, retried.text
    assert retried.json()["enqueued"] is True
    job = retried.json()["job"]
    # A fresh set of attempts; the count itself goes on (it fences late writers).
    assert (job["status"], job["attempts"], job["attempts_since_retry"], job["input"]) == (
        "queued",
        3,
        0,
        {"k": 1},
    )

    # Now queued: retrying again is refused, and nothing changes.
    again = await client.post(f"/v1/admin/jobs/{job_id}/retry", headers=admin.headers)
    assert_error(again, 409, "job_not_retryable")


async def test_retry_refuses_when_the_subject_already_has_a_live_job(
    client: httpx.AsyncClient, admin: Athlete, pg_pool: asyncpg.Pool
) -> None:
    async with pg_pool.acquire() as conn:
        failed_id = await conn.fetchval(
            """INSERT INTO jobs (kind, subject, status, attempts) VALUES ('refresh_briefing', 's', 'failed', 3)
               RETURNING id"""
        )
        await conn.execute(
            "INSERT INTO jobs (kind, subject, status) VALUES ('refresh_briefing', 's', 'queued')"
        )
    response = await client.post(f"/v1/admin/jobs/{failed_id}/retry", headers=admin.headers)
    assert_error(response, 409, "job_subject_busy")
    async with pg_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM jobs WHERE id = $1", failed_id) == "failed"


@pytest.mark.parametrize(
    ("job_id", "status", "code"),
    [
        ("not-a-uuid", 422, "validation_error"),
        ("12345", 422, "validation_error"),
        (str(uuid.uuid4()), 404, "not_found"),
    ],
)
async def test_retry_bad_ids(
    client: httpx.AsyncClient, admin: Athlete, job_id: str, status: int, code: str
) -> None:
    response = await client.post(f"/v1/admin/jobs/{job_id}/retry", headers=admin.headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_retry_wrong_method(client: httpx.AsyncClient, admin: Athlete) -> None:
    response = await client.get(f"/v1/admin/jobs/{uuid.uuid4()}/retry", headers=admin.headers)
    assert response.status_code == 405


def _cli(core_api: CoreApi, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": core_api.settings.DATABASE_URL,
        "REDIS_URL": core_api.settings.REDIS_URL,
        "COLUMNS": "200",
    }
    return run_module("pacer_briefing_worker.cli", *args, env=env)


async def test_cli_reap_is_a_dry_run_unless_executed(
    core_api: CoreApi, pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    ids = await insert_overdue_jobs(pg_pool, 3)
    async with pg_pool.acquire() as conn:
        before = await conn.fetch("SELECT * FROM jobs ORDER BY id")

    dry = _cli(core_api, "reap")
    assert dry.returncode == 0, dry.stderr
    assert "DRY RUN" in dry.stdout and "Would reap 3" in dry.stdout
    assert all(str(job_id) in dry.stdout for job_id in ids)
    async with pg_pool.acquire() as conn:
        assert await conn.fetch("SELECT * FROM jobs ORDER BY id") == before

    stuck = _cli(core_api, "stuck")
    assert stuck.returncode == 1  # something to act on
    assert "3 stuck job(s)" in stuck.stdout

    done = _cli(core_api, "reap", "--execute")
    assert done.returncode == 0, done.stderr
    assert "Reaped 3: 3 queued again, 0 failed." in done.stdout
    async with pg_pool.acquire() as conn:
        statuses = await conn.fetch("SELECT status FROM jobs")
    assert {row["status"] for row in statuses} == {"timed_out"}


async def test_cli_retry_and_health(
    core_api: CoreApi, pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    async with pg_pool.acquire() as conn:
        job_id = await conn.fetchval(
            "INSERT INTO jobs (kind, subject, status, attempts) VALUES ('refresh_briefing', 'x', 'failed', 3) RETURNING id"
        )
    assert _cli(core_api, "health").returncode == 0
    retried = _cli(core_api, "retry", str(job_id))
    assert retried.returncode == 0, retried.stdout + retried.stderr
    refused = _cli(core_api, "retry", str(job_id))
    assert refused.returncode == 1 and "not failed or timed out" in refused.stdout
    assert _cli(core_api, "retry", "nope").returncode == 2
    missing = _cli(core_api, "retry", str(uuid.uuid4()))
    assert missing.returncode == 1 and "no job" in missing.stdout
    usage = _cli(core_api, "frobnicate")
    assert usage.returncode == 2


async def test_cli_reap_execute_alerts_like_the_reaper(
    core_api: CoreApi, pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    await insert_overdue_jobs(pg_pool, 2, attempts=3)  # last attempts: they fail
    async with Webhook() as hook:
        process = await python_module(
            "pacer_briefing_worker.cli",
            "reap",
            "--execute",
            env={
                **os.environ,
                "DATABASE_URL": core_api.settings.DATABASE_URL,
                "REDIS_URL": core_api.settings.REDIS_URL,
                "ALERT_WEBHOOK_URL": hook.url,
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    assert "Reaped 2: 0 queued again, 2 failed." in out.decode()
    assert [body["type"] for body in hook.bodies] == ["job.failed", "job.failed"]
