"""Publish to a user's notification stream (``pacer:notify:<user>``, a Redis Stream).

Any process with a Redis client publishes here (the worker: ``briefing.ready``,
``job.*``, and ``session.*`` through :mod:`pacer_common.session_lifecycle`; the
coach: ``reply.done``); the coach's ``GET /v1/coach/events``
replays and follows it. The caps and the TTL are in :mod:`pacer_common.redis_names`.
An entry holds two fields: ``type`` (the SSE event name) and ``data`` (JSON).
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import redis.asyncio as redis

from pacer_common import redis_names


async def publish(
    client: redis.Redis, user_id: UUID | str, event_type: str, data: dict[str, Any]
) -> str:
    """Append one event; returns its entry id (the SSE ``id:``)."""
    key = redis_names.notify_key(user_id)
    # One round trip, atomic: a stream is never left without its TTL.
    async with client.pipeline(transaction=True) as pipe:
        pipe.xadd(
            key,
            {"type": event_type, "data": json.dumps(data, separators=(",", ":"))},
            maxlen=redis_names.NOTIFY_MAXLEN,
            approximate=True,
        )
        pipe.expire(key, redis_names.NOTIFY_TTL_SECONDS)
        entry_id, _ = await pipe.execute()
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
