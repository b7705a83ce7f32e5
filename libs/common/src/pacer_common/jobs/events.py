"""Job events, appended to the athlete's notification stream (:mod:`pacer_common.notifications`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import redis.asyncio as redis

from pacer_common import notifications
from pacer_common.jobs.ledger import Job


def job_event(job: Job, now: dt.datetime) -> dict[str, Any]:
    """``job.timed_out`` (retried after a backoff), ``job.attempt_failed`` (an error,
    retried after a backoff) or ``job.failed`` (no attempts left)."""
    kind = {"timed_out": "job.timed_out", "failed": "job.failed"}.get(
        job.status, "job.attempt_failed"
    )
    return {
        "type": kind,
        "job_id": str(job.id),
        "kind": job.kind,
        "attempts": job.attempts,
        "error": job.error,
        "retry_at": job.run_after.isoformat() if job.status != "failed" else None,
        "at": now.isoformat(),
    }


async def publish(client: redis.Redis, athlete_id: str, event: dict[str, Any]) -> str:
    """Returns the stream entry id; the event's ``type`` is its SSE event name."""
    return await notifications.publish(client, athlete_id, event["type"], event)
