"""Job events on a Redis channel per athlete (a later issue streams them to the browser)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import redis.asyncio as redis

from pacer_common import redis_names
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


async def publish(client: redis.Redis, athlete_id: str, event: dict[str, Any]) -> int:
    """Returns how many subscribers received it."""
    return int(
        await client.publish(redis_names.athlete_events_channel(athlete_id), json.dumps(event))
    )
