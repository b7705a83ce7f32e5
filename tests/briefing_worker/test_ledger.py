"""The ledger's fences, straight against Postgres: a late writer from an earlier
attempt changes nothing, a follow-up cannot be lost, reapers never wait on or
double-handle a row."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from fixtures.worker import JOB_SETTINGS, insert_overdue_jobs
from pacer_common.jobs import ledger
from pacer_common.jobs.settings import JobSettings

SETTINGS = JobSettings(**JOB_SETTINGS)


async def _new_job(conn: asyncpg.Connection, subject: str | None = None) -> ledger.Submitted:
    return await ledger.submit(
        conn,
        "refresh_briefing",
        subject or str(uuid.uuid4()),
        {"reason": "test"},
        run_after_s=0,
        rerun_if_running=True,
    )


async def test_a_late_writer_from_before_an_admin_retry_changes_nothing(
    pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    async with pg_pool.acquire() as conn:
        job_id = (await _new_job(conn)).job_id
        first = await ledger.claim(conn, job_id, worker="a", timeout_s=60)
        assert first is not None and first.attempts == 1
        # Attempt 1's worker froze; its job failed and an admin retried it.
        await conn.execute("UPDATE jobs SET status = 'failed' WHERE id = $1", job_id)
        retried = await ledger.retry(conn, job_id)
        assert retried is not None
        second = await ledger.claim(conn, job_id, worker="b", timeout_s=60)
        assert second is not None and second.attempts == 2

        # Worker A wakes up: its heartbeat and its outcome are refused.
        assert await ledger.heartbeat(conn, job_id, first.attempts) is False
        assert await ledger.succeed(conn, job_id, first.attempts, {"by": "a"}) is None
        late_failure = await ledger.settle_failure(
            conn,
            job_id,
            first.attempts,
            timed_out=True,
            retryable=True,
            error="a",
            settings=SETTINGS,
        )
        assert late_failure is None
        done = await ledger.succeed(conn, job_id, second.attempts, {"by": "b"})
    assert done is not None and done.job.outcome == {"by": "b"}


async def test_a_save_during_a_run_leaves_a_queued_follow_up_with_the_success(
    pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    async with pg_pool.acquire() as conn:
        submitted = await _new_job(conn, "athlete-1")
        running = await ledger.claim(conn, submitted.job_id, worker="w", timeout_s=60)
        assert running is not None
        joined = await _new_job(conn, "athlete-1")  # a save while it runs
        assert (joined.job_id, joined.created) == (submitted.job_id, False)
        done = await ledger.succeed(conn, submitted.job_id, running.attempts, {})
        rows = await conn.fetch("SELECT status, input FROM jobs ORDER BY created_at")
    assert done is not None and done.follow_up is not None and done.follow_up.created
    assert [row["status"] for row in rows] == ["succeeded", "queued"]


async def test_a_reaper_skips_rows_another_reaper_holds_instead_of_waiting(
    pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    ids = await insert_overdue_jobs(pg_pool, 5)
    async with pg_pool.acquire() as first, pg_pool.acquire() as second:
        transaction = first.transaction()
        await transaction.start()
        try:
            held = await ledger.reap(first, SETTINGS)
            # The first reaper has not committed: the second neither waits nor takes them.
            taken = await asyncio.wait_for(ledger.reap(second, SETTINGS), timeout=2)
        finally:
            await transaction.commit()
        after = await ledger.reap(second, SETTINGS)
    assert sorted(job.id for job in held) == sorted(ids)
    assert taken == []
    assert after == []  # committed: nothing is overdue any more
