"""What asks for a refresh: every kind of save, and the periodic cron for
athletes active lately; plus the long-running alert."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import httpx
import pytest
from arq.connections import ArqRedis

from fixtures.core_api import Athlete
from fixtures.llm_sim import LLMSim
from fixtures.waiting import poll
from fixtures.worker import Webhook, jobs_for, reaper_for, worker_values
from pacer_briefing_worker.jobs import queue_active_athletes
from pacer_briefing_worker.settings import BriefingWorkerSettings

SAVES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/checkins", {"sleep_hours": 7, "soreness": 2, "mood": 4}),
    (
        "POST",
        "/v1/activities",
        {
            "sport": "run",
            "started_at": "2026-11-20T07:00:00Z",
            "duration_s": 1800,
            "distance_m": 5000,
        },
    ),
    (
        "PUT",
        "/v1/plan",
        {
            "name": "Base",
            "start_date": "2026-11-01",
            "end_date": "2027-01-31",
            "sessions_per_week": 4,
        },
    ),
    (
        "PUT",
        "/v1/goal",
        {"race_name": "Spring 10k", "race_date": "2027-04-01", "distance_m": 10000},
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), SAVES, ids=[path for _, path, _ in SAVES])
async def test_every_kind_of_save_queues_a_refresh_after_the_commit(
    job_client: httpx.AsyncClient,
    job_athlete: Athlete,
    pg_pool: asyncpg.Pool,
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    saved = await job_client.request(method, path, json=body, headers=job_athlete.headers)
    assert saved.status_code in (200, 201), saved.text
    bad = await job_client.request(method, path, json={"nope": 1}, headers=job_athlete.headers)
    assert bad.status_code == 422
    jobs = await jobs_for(pg_pool, job_athlete.id)
    # One job, from the good save: a refused one asks for nothing.
    reason = {"/v1/checkins": "checkin", "/v1/activities": "activity"}.get(path, path[4:])
    assert [(job.status, job.input["reason"]) for job in jobs] == [("queued", reason)]


async def test_the_cron_queues_athletes_who_saved_anything_in_the_last_days_only(
    pg_pool: asyncpg.Pool, redis_url: str, migrated_postgres: str, sim: LLMSim, clean_state: None
) -> None:
    now = dt.datetime.now(dt.UTC)
    async with pg_pool.acquire() as conn:
        ids = [
            await conn.fetchval(
                "INSERT INTO users (email, name, password_hash) VALUES ($1, 'A', 'x') RETURNING id",
                f"cron-{index}@example.com",
            )
            for index in range(4)
        ]
        await conn.execute(
            """INSERT INTO checkins (user_id, day, sleep_hours, soreness, mood, updated_at)
               VALUES ($1, $3::date, 7, 2, 4, $3), ($2, ($3 - interval '10 days')::date, 7, 2, 4, $3 - interval '10 days')""",
            ids[0],
            ids[1],
            now,
        )
        await conn.execute(
            """INSERT INTO activities (user_id, sport, started_at, duration_s, created_at)
               VALUES ($1, 'run', $2, 600, $2)""",
            ids[2],
            now - dt.timedelta(days=2),
        )
        await conn.execute(
            """INSERT INTO goals (user_id, race_name, race_date, distance_m) VALUES ($1, 'R', $2, 10000)""",
            ids[3],
            (now + dt.timedelta(days=90)).date(),
        )
    settings = BriefingWorkerSettings(**worker_values(migrated_postgres, redis_url, sim.base_url))
    arq = ArqRedis.from_url(redis_url)
    try:
        queued = await queue_active_athletes(pg_pool, arq, settings)
        # A second run while those are queued adds nothing.
        again = await queue_active_athletes(pg_pool, arq, settings)
        depth = await arq.zcard(settings.JOB_QUEUE_NAME)
    finally:
        await arq.aclose()
    assert (queued, again, depth) == (3, 3, 3)
    async with pg_pool.acquire() as conn:
        subjects = {row["subject"] for row in await conn.fetch("SELECT subject FROM jobs")}
    assert subjects == {str(ids[0]), str(ids[2]), str(ids[3])}


async def test_too_many_long_running_jobs_alert_once_per_repeat_window(
    pg_pool: asyncpg.Pool, redis_url: str, migrated_postgres: str, sim: LLMSim, clean_state: None
) -> None:
    async with pg_pool.acquire() as conn:
        # Running for 2 minutes, still within their deadline and heartbeating.
        await conn.execute(
            """INSERT INTO jobs (kind, subject, status, attempts, started_at, heartbeat_at, deadline_at)
               SELECT 'refresh_briefing', gen_random_uuid()::text, 'processing', 1,
                      now() - interval '2 minutes', now(), now() + interval '10 minutes'
               FROM generate_series(1, 4)"""
        )
    async with Webhook() as hook:
        settings = BriefingWorkerSettings(
            **worker_values(
                migrated_postgres,
                redis_url,
                sim.base_url,
                JOB_WARNING_SECONDS=60,
                MAX_LONG_RUNNING_JOBS=3,
            )
        )
        arq = ArqRedis.from_url(redis_url)
        reaper, alerts = reaper_for(
            pg_pool, arq, settings, webhook_url=hook.url, webhook_timeout_s=2, repeat_s=3600
        )
        try:
            first = await reaper.reap_once()
            await reaper.reap_once()
            await alerts.aclose()
        finally:
            await arq.aclose()

        async def posted() -> list[dict[str, Any]]:
            return hook.bodies

        await poll(posted, timeout_s=5, what="the webhook's post")
    assert first.reaped == []  # long-running is not stuck
    assert [(body["type"], body["count"], body["threshold"]) for body in hook.bodies] == [
        ("jobs.long_running", 4, 3)
    ]
