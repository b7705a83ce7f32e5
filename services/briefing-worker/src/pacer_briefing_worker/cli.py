"""``pacer-jobs``: the jobs ledger from a terminal (what the admin endpoints show, and more).

    pacer-jobs health              counts, long-running and stuck jobs, overall status
    pacer-jobs stuck               the stuck jobs with their ages
    pacer-jobs reap                what the reaper would time out now (dry run: changes nothing)
    pacer-jobs reap --execute      time them out (retried with backoff, or failed)
    pacer-jobs retry JOB_ID        queue a failed or timed-out job again

Reads DATABASE_URL, REDIS_URL and the JOB_* settings from the environment,
like the worker. Exit status: 0 done, 1 something to act on or refused, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Sequence
from uuid import UUID

import asyncpg
from arq.connections import ArqRedis
from pydantic import Field
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pacer_briefing_worker.settings import ReaperSettings
from pacer_briefing_worker.state import build_state
from pacer_common.jobs import ledger, queue
from pacer_common.jobs.ledger import Job
from pacer_common.settings import load_settings

# Reaped per transaction: small batches keep row locks short and move the bar.
REAP_BATCH = 20


class CliSettings(ReaperSettings):
    """The worker's job settings (reaping by hand alerts like the reaper does), without its LLM."""

    DATABASE_URL: str = Field(min_length=1)
    REDIS_URL: str = Field(min_length=1)


def _age(now: dt.datetime, then: dt.datetime | None) -> str:
    if then is None:
        return "-"
    seconds = int((now - then).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def jobs_table(title: str, jobs: Sequence[Job]) -> Table:
    now = dt.datetime.now(dt.UTC)
    table = Table(title=title)
    for column in (
        "id",
        "kind",
        "subject",
        "status",
        "attempts",
        "age",
        "running",
        "heartbeat",
        "error",
    ):
        table.add_column(column, overflow="fold")
    for job in jobs:
        table.add_row(
            str(job.id),
            job.kind,
            job.subject,
            job.status,
            str(job.attempts),
            _age(now, job.created_at),
            _age(now, job.started_at) if job.status == "processing" else "-",
            _age(now, job.heartbeat_at) if job.status == "processing" else "-",
            job.error or "",
        )
    return table


async def _health(conn: asyncpg.Connection, settings: CliSettings, console: Console) -> int:
    health = await ledger.health(conn, settings)
    table = Table(title=f"jobs: {health.status}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for status, count in health.counts.items():
        table.add_row(status, str(count))
    table.add_row("long-running", f"{health.long_running} (> {settings.JOB_WARNING_SECONDS:g} s)")
    table.add_row("stuck", str(health.stuck))
    console.print(table)
    return 0 if health.status == "healthy" else 1


async def _stuck(conn: asyncpg.Connection, settings: CliSettings, console: Console) -> int:
    jobs = await ledger.stuck(conn, settings)
    console.print(jobs_table(f"{len(jobs)} stuck job(s)", jobs))
    return 1 if jobs else 0


async def _reap(
    pool: asyncpg.Pool, arq: ArqRedis, settings: CliSettings, console: Console, *, execute: bool
) -> int:
    async with pool.acquire() as conn:
        candidates = await ledger.overdue(conn, settings)
    console.print(jobs_table(f"{len(candidates)} overdue job(s)", candidates))
    if not execute:
        console.print(
            f"DRY RUN: nothing changed. Would reap {len(candidates)}; add --execute to apply."
        )
        return 0
    # Wired as the worker wires it: the same alerts (channel and webhook) and outcomes.
    job_state = build_state(settings, pool, arq)
    reaped: list[Job] = []
    try:
        with Progress(console=console, transient=False) as progress:
            task = progress.add_task("reaping", total=len(candidates))
            while True:
                async with pool.acquire() as conn:
                    batch = await ledger.reap(conn, settings, limit=REAP_BATCH)
                for job in batch:
                    await job_state.outcomes.after_failure(job)
                    progress.advance(task)
                reaped.extend(batch)
                if len(batch) < REAP_BATCH:
                    break
    finally:
        await job_state.aclose()
    retried = sum(job.status == "timed_out" for job in reaped)
    console.print(f"Reaped {len(reaped)}: {retried} queued again, {len(reaped) - retried} failed.")
    return 0


async def _retry(
    pool: asyncpg.Pool, arq: ArqRedis, settings: CliSettings, console: Console, raw_id: str
) -> int:
    try:
        job_id = UUID(raw_id)
    except ValueError:
        console.print(f"not a job id: {raw_id!r}")
        return 2
    async with pool.acquire() as conn:
        try:
            job = await ledger.retry(conn, job_id)
        except ledger.NotRetryable:
            console.print(f"job {job_id} is not failed or timed out: not retried")
            return 1
        except ledger.SubjectBusy:
            console.print(f"job {job_id}: another job for the same subject is queued or running")
            return 1
    if job is None:
        console.print(f"no job {job_id}")
        return 1
    await queue.enqueue_attempt(arq, settings, job, 0.0)
    console.print(f"job {job_id} queued again")
    return 0


async def run(args: argparse.Namespace, settings: CliSettings, console: Console) -> int:
    pool = await asyncpg.create_pool(settings.DATABASE_URL, min_size=1, max_size=2)
    arq = ArqRedis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        if args.command == "health":
            async with pool.acquire() as conn:
                return await _health(conn, settings, console)
        if args.command == "stuck":
            async with pool.acquire() as conn:
                return await _stuck(conn, settings, console)
        if args.command == "reap":
            return await _reap(pool, arq, settings, console, execute=args.execute)
        return await _retry(pool, arq, settings, console, args.job_id)
    finally:
        await arq.aclose()
        await pool.close()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="pacer-jobs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("health", help="counts and overall status")
    commands.add_parser("stuck", help="jobs past their deadline or heartbeat, and timed-out ones")
    reap = commands.add_parser("reap", help="time out overdue jobs (dry run unless --execute)")
    reap.add_argument("--execute", action="store_true", help="apply; without it nothing changes")
    retry = commands.add_parser("retry", help="queue a failed or timed-out job again")
    retry.add_argument("job_id")
    return top


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    settings = load_settings(CliSettings)
    console = Console(width=160)
    sys.exit(asyncio.run(run(args, settings, console)))


if __name__ == "__main__":
    main()
