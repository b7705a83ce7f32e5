"""The jobs ledger (table ``jobs``, migration 0003): every change of a job's state.

Every update that moves a job on names the status (and, for a running job, the
attempt) it expects, so a late writer (a worker that lost its job to the
reaper, a second reaper, an admin retry) changes nothing instead of
overwriting a newer state.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg

from pacer_common.jobs.settings import JobSettings

JobStatus = Literal["queued", "processing", "succeeded", "failed", "timed_out"]
STATUSES: tuple[JobStatus, ...] = ("queued", "processing", "succeeded", "failed", "timed_out")
LIVE_STATUSES: tuple[JobStatus, ...] = ("queued", "processing", "timed_out")

_COLUMNS = """id, kind, subject, status, attempts, attempts_before_retry, input, rerun_requested, deadline_at,
    heartbeat_at, run_after, worker, error, outcome, created_at, started_at, finished_at"""


@dataclass(frozen=True)
class Job:
    id: UUID
    kind: str
    subject: str
    status: JobStatus
    attempts: int
    attempts_before_retry: int
    input: dict[str, Any]
    rerun_requested: bool
    deadline_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    run_after: dt.datetime
    worker: str | None
    error: str | None
    outcome: dict[str, Any] | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> Job:
        values = dict(record)
        values["input"] = json.loads(values["input"])
        values["outcome"] = None if values["outcome"] is None else json.loads(values["outcome"])
        return cls(**{name: values[name] for name in cls.__dataclass_fields__})

    def as_json(self, now: dt.datetime) -> dict[str, Any]:
        def iso(value: dt.datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": str(self.id),
            "kind": self.kind,
            "subject": self.subject,
            "status": self.status,
            "attempts": self.attempts,
            "attempts_since_retry": self.attempts - self.attempts_before_retry,
            "input": self.input,
            "error": self.error,
            "worker": self.worker,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "deadline_at": iso(self.deadline_at),
            "heartbeat_at": iso(self.heartbeat_at),
            "run_after": iso(self.run_after),
            "age_seconds": round((now - self.created_at).total_seconds(), 1),
            "running_seconds": None
            if self.started_at is None or self.status != "processing"
            else round((now - self.started_at).total_seconds(), 1),
        }


@dataclass(frozen=True)
class Submitted:
    job_id: UUID
    kind: str
    # False: the trigger joined a job already queued or running.
    created: bool
    status: JobStatus


async def submit(
    conn: asyncpg.Connection,
    kind: str,
    subject: str,
    job_input: dict[str, Any],
    *,
    run_after_s: float,
    rerun_if_running: bool,
) -> Submitted:
    """A new queued job, or the live one for (kind, subject) if there is one.

    ``rerun_if_running``: the trigger brings new data, so a job already running
    (which may have read the old data) gets one follow-up when it ends.
    """
    row = await conn.fetchrow(
        """INSERT INTO jobs (kind, subject, input, run_after)
           VALUES ($1, $2, $3::jsonb, now() + make_interval(secs => $4))
           ON CONFLICT (kind, subject) WHERE status IN ('queued', 'processing', 'timed_out')
           DO UPDATE SET rerun_requested =
               jobs.rerun_requested OR (jobs.status = 'processing' AND $5)
           RETURNING id, kind, (xmax = 0) AS created, status""",
        kind,
        subject,
        json.dumps(job_input),
        run_after_s,
        rerun_if_running,
    )
    return Submitted(row["id"], row["kind"], row["created"], row["status"])


async def claim(
    conn: asyncpg.Connection, job_id: UUID, *, worker: str, timeout_s: float
) -> Job | None:
    """Start an attempt: ``processing`` with a deadline. None if the job is not
    waiting to run (already running, finished, or its backoff not over)."""
    row = await conn.fetchrow(
        f"""UPDATE jobs SET status = 'processing', attempts = attempts + 1, worker = $2,
               started_at = now(), heartbeat_at = now(), finished_at = NULL,
               deadline_at = now() + make_interval(secs => $3),
               rerun_requested = false, updated_at = now()
            WHERE id = $1 AND status IN ('queued', 'timed_out')
              AND run_after <= now() + interval '1 second'
            RETURNING {_COLUMNS}""",
        job_id,
        worker,
        timeout_s,
    )
    return None if row is None else Job.from_record(row)


async def heartbeat(conn: asyncpg.Connection, job_id: UUID, attempt: int) -> bool:
    """Touch a running attempt; False once the attempt is no longer ours."""
    status = await conn.execute(
        """UPDATE jobs SET heartbeat_at = now()
           WHERE id = $1 AND status = 'processing' AND attempts = $2""",
        job_id,
        attempt,
    )
    return bool(status == "UPDATE 1")


@dataclass(frozen=True)
class Succeeded:
    job: Job
    # The follow-up run asked for while this one ran (rerun_requested), queued
    # in the same transaction so that it cannot be lost between the two.
    follow_up: Submitted | None


async def succeed(
    conn: asyncpg.Connection, job_id: UUID, attempt: int, outcome: dict[str, Any]
) -> Succeeded | None:
    """Record success; None if the attempt had already been settled (e.g. reaped)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""UPDATE jobs SET status = 'succeeded', outcome = $3::jsonb, error = NULL,
                   finished_at = now(), updated_at = now()
                WHERE id = $1 AND status = 'processing' AND attempts = $2
                RETURNING {_COLUMNS}""",
            job_id,
            attempt,
            json.dumps(outcome),
        )
        if row is None:
            return None
        job = Job.from_record(row)
        follow_up = None
        if job.rerun_requested:
            follow_up = await submit(
                conn,
                job.kind,
                job.subject,
                {**job.input, "reason": "rerun"},
                run_after_s=0.0,
                rerun_if_running=False,
            )
    return Succeeded(job, follow_up)


def _next_state(*, timed_out: str, retryable: str, max_attempts: str, base: str, cap: str) -> str:
    """SET clauses shared by settle_failure() and reap(), given their placeholders:
    queued again (after an exponential backoff) while attempts remain, else failed."""
    return f"""
    status = CASE WHEN NOT {retryable} OR j.attempts - j.attempts_before_retry >= {max_attempts} THEN 'failed'
                  WHEN {timed_out} THEN 'timed_out' ELSE 'queued' END,
    run_after = now() + make_interval(
        secs => least({base} * power(2, greatest(j.attempts - j.attempts_before_retry - 1, 0)), {cap})),
    finished_at = now(), updated_at = now()"""


async def settle_failure(
    conn: asyncpg.Connection,
    job_id: UUID,
    attempt: int,
    *,
    timed_out: bool,
    retryable: bool,
    error: str,
    settings: JobSettings,
) -> Job | None:
    """End a failed attempt: queued again (after a backoff) while attempts remain,
    else ``failed``. None if the attempt had already been settled."""
    row = await conn.fetchrow(
        f"""UPDATE jobs j SET {_next_state(timed_out="$2", retryable="$3", max_attempts="$4", base="$5", cap="$6")},
                error = $7
            WHERE j.id = $1 AND j.status = 'processing' AND j.attempts = $8
            RETURNING {_COLUMNS}""",
        job_id,
        timed_out,
        retryable,
        settings.JOB_MAX_ATTEMPTS,
        settings.JOB_RETRY_BACKOFF_SECONDS,
        settings.JOB_RETRY_BACKOFF_MAX_SECONDS,
        error,
        attempt,
    )
    return None if row is None else Job.from_record(row)


_OVERDUE = """j.status = 'processing'
    AND (j.deadline_at < now() OR j.heartbeat_at < now() - make_interval(secs => $1))"""


async def reap(conn: asyncpg.Connection, settings: JobSettings, *, limit: int = 100) -> list[Job]:
    """Time out running jobs past their deadline or without a heartbeat.

    SKIP LOCKED: a reaper never waits for, nor handles, a row another reaper
    (or the job's own worker) is settling, and Postgres re-checks the status
    of a row changed since this statement began, so each job is reaped once.
    """
    rows = await conn.fetch(
        f"""WITH overdue AS (
                SELECT j.id FROM jobs j WHERE {_OVERDUE}
                ORDER BY j.deadline_at LIMIT $5 FOR UPDATE SKIP LOCKED
            )
            UPDATE jobs j SET {_next_state(timed_out="true", retryable="true", max_attempts="$2", base="$3", cap="$4")},
                error = CASE WHEN j.deadline_at < now()
                    THEN format('timed out: still processing %s s after its %s s deadline (attempt %s of %s)',
                                round(extract(epoch FROM now() - j.deadline_at)),
                                round(extract(epoch FROM j.deadline_at - j.started_at)),
                                j.attempts - j.attempts_before_retry, $2)
                    ELSE format('timed out: no heartbeat for %s s (attempt %s of %s)',
                                round(extract(epoch FROM now() - j.heartbeat_at)),
                                j.attempts - j.attempts_before_retry, $2)
                END
            FROM overdue WHERE j.id = overdue.id
            RETURNING {", ".join("j." + c.strip() for c in _COLUMNS.split(","))}""",
        settings.JOB_HEARTBEAT_TIMEOUT_SECONDS,
        settings.JOB_MAX_ATTEMPTS,
        settings.JOB_RETRY_BACKOFF_SECONDS,
        settings.JOB_RETRY_BACKOFF_MAX_SECONDS,
        limit,
    )
    return [Job.from_record(row) for row in rows]


async def overdue(conn: asyncpg.Connection, settings: JobSettings) -> list[Job]:
    """What :func:`reap` would take now, changing nothing (the CLI's dry run)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM jobs j WHERE {_OVERDUE} ORDER BY j.deadline_at",
        settings.JOB_HEARTBEAT_TIMEOUT_SECONDS,
    )
    return [Job.from_record(row) for row in rows]


async def stuck(conn: asyncpg.Connection, settings: JobSettings) -> list[Job]:
    """Jobs that did not finish in time: running past their deadline or without a
    heartbeat (not reaped yet), and timed-out jobs waiting for their retry."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM jobs j WHERE ({_OVERDUE}) OR j.status = 'timed_out'
            ORDER BY j.created_at""",
        settings.JOB_HEARTBEAT_TIMEOUT_SECONDS,
    )
    return [Job.from_record(row) for row in rows]


async def lost_in_queue(
    conn: asyncpg.Connection, settings: JobSettings, *, limit: int = 100
) -> list[Job]:
    """Jobs waiting to run well past their time: their arq entry was lost (an
    enqueue that failed, a Redis restart), so they are enqueued again."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM jobs j
            WHERE j.status IN ('queued', 'timed_out')
              AND j.run_after < now() - make_interval(secs => $1)
            ORDER BY j.run_after LIMIT $2""",
        settings.JOB_QUEUED_GRACE_SECONDS,
        limit,
    )
    return [Job.from_record(row) for row in rows]


async def waiting(conn: asyncpg.Connection, *, limit: int = 1000) -> list[Job]:
    """Every job waiting for its next attempt (due or not), oldest first: what
    the worker enqueues when it (re)connects to Redis, where entries enqueued
    while Redis was down never arrived."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM jobs j
            WHERE j.status IN ('queued', 'timed_out')
            ORDER BY j.run_after LIMIT $1""",
        limit,
    )
    return [Job.from_record(row) for row in rows]


async def get(conn: asyncpg.Connection, job_id: UUID) -> Job | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM jobs WHERE id = $1", job_id)
    return None if row is None else Job.from_record(row)


class NotRetryable(Exception):
    """The job is not failed or timed out (it is waiting, running or done)."""


class SubjectBusy(Exception):
    """Another job for the same subject is already queued or running."""


async def retry(conn: asyncpg.Connection, job_id: UUID) -> Job | None:
    """Queue a failed or timed-out job again now, with a fresh set of JOB_MAX_ATTEMPTS
    (``attempts`` itself keeps counting: it fences late writers of earlier attempts).
    None if there is no such job; raises NotRetryable or SubjectBusy."""
    try:
        row = await conn.fetchrow(
            f"""UPDATE jobs SET status = 'queued', attempts_before_retry = attempts, run_after = now(),
                   deadline_at = NULL, heartbeat_at = NULL, updated_at = now()
                WHERE id = $1 AND status IN ('failed', 'timed_out')
                RETURNING {_COLUMNS}""",
            job_id,
        )
    except asyncpg.UniqueViolationError:
        raise SubjectBusy(str(job_id)) from None
    if row is None:
        if await get(conn, job_id) is None:
            return None
        raise NotRetryable(str(job_id))
    return Job.from_record(row)


@dataclass(frozen=True)
class Health:
    counts: dict[str, int]
    processing: int
    long_running: int
    stuck: int
    status: Literal["healthy", "warning", "critical"]


# Terminal states are counted over this window only: the ledger keeps every
# row, and "how many failed lately" is what an operator needs.
HEALTH_WINDOW = dt.timedelta(hours=24)


async def health(conn: asyncpg.Connection, settings: JobSettings) -> Health:
    row = await conn.fetchrow(
        f"""SELECT
              count(*) FILTER (WHERE status = 'queued') AS queued,
              count(*) FILTER (WHERE status = 'processing') AS processing,
              count(*) FILTER (WHERE status = 'timed_out') AS timed_out,
              count(*) FILTER (WHERE status = 'succeeded' AND finished_at >= now() - $3::interval) AS succeeded,
              count(*) FILTER (WHERE status = 'failed' AND finished_at >= now() - $3::interval) AS failed,
              count(*) FILTER (WHERE status = 'processing'
                               AND started_at < now() - make_interval(secs => $2)) AS long_running,
              count(*) FILTER (WHERE {_OVERDUE}) AS stuck
            FROM jobs j
            WHERE status IN ('queued', 'processing', 'timed_out') OR finished_at >= now() - $3::interval""",
        settings.JOB_HEARTBEAT_TIMEOUT_SECONDS,
        settings.JOB_WARNING_SECONDS,
        HEALTH_WINDOW,
    )
    counts: dict[str, int] = {status: int(row[status]) for status in STATUSES}
    stuck_count, long_running = int(row["stuck"]), int(row["long_running"])
    status: Literal["healthy", "warning", "critical"] = "healthy"
    if stuck_count > 0:
        status = "critical"
    elif long_running > settings.MAX_LONG_RUNNING_JOBS or counts["timed_out"] > 0:
        status = "warning"
    return Health(counts, counts["processing"], long_running, stuck_count, status)
