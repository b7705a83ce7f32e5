"""What a coaching session's owner hears when its extraction ends, on their
notification stream (:mod:`pacer_common.notifications`; the coach's
``GET /v1/coach/events`` replays and follows it)::

    session.completed          {"session_id", "status": "completed", "topic", "result", "at"}
    session.extraction_failed  {"session_id", "status": "extraction_failed", "topic", "job_id", "at"}

A client waiting on the stream needs no polling: ``session.completed`` carries
the validated result. The job's error is for operators (the admin jobs routes),
not in the event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import redis.asyncio as redis

from pacer_common import notifications
from pacer_common.logs import get_logger

SESSION_COMPLETED = "session.completed"
SESSION_EXTRACTION_FAILED = "session.extraction_failed"

log = get_logger(__name__)


async def _publish(
    client: redis.Redis, user_id: UUID, event_type: str, data: dict[str, Any]
) -> None:
    try:
        await notifications.publish(client, user_id, event_type, data)
    except Exception as error:  # the session row has the outcome; a missed event is no failure
        log.warning("session_event_not_published", type=event_type, error=str(error))


async def completed(
    client: redis.Redis, user_id: UUID, session_id: UUID, topic: str, result: dict[str, Any]
) -> None:
    await _publish(
        client,
        user_id,
        SESSION_COMPLETED,
        {
            "session_id": str(session_id),
            "status": "completed",
            "topic": topic,
            "result": result,
            "at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )


async def extraction_failed(
    client: redis.Redis, user_id: UUID, session_id: UUID, topic: str, job_id: UUID
) -> None:
    await _publish(
        client,
        user_id,
        SESSION_EXTRACTION_FAILED,
        {
            "session_id": str(session_id),
            "status": "extraction_failed",
            "topic": topic,
            "job_id": str(job_id),
            "at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )
