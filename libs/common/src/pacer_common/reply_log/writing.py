"""Writing a log: the commands every writer sends, with their TTLs, and the cancel/end arbiter.

While a reply is produced its log lives REPLY_LOG_STREAMING_TTL_SECONDS,
refreshed with each heartbeat; once ``done`` is in it, the coach's
``REPLY_LOG_TTL_SECONDS`` (whoever wrote the ``done``: its producer, or a coach
that settled a dead one). The TTLs are in :mod:`pacer_common.redis_names`.

A cancel and a reply's end race: the reply's cancel key decides which came
first. A cancel sets it to ``cancel`` unless it is set; a producer whose LLM
call is over sets it to ``ended`` unless it is set, before it stores anything.
So a cancel that was accepted (202) always finds the producer still able to end
the reply as cancelled, and one that comes after the end is refused (409).
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import redis.asyncio as redis
from redis.asyncio.client import Pipeline

from pacer_common import redis_names
from pacer_common.reply_log.entries import Entry, Kind
from pacer_common.reply_log.reading import newest_entry

CANCEL_REQUESTED = "cancel"
ENDED = "ended"


def stage_entries(pipe: Pipeline, message_id: UUID | str, entries: Iterable[Entry]) -> int:
    """XADD each entry (with its own id if it has one); how many commands."""
    key = redis_names.reply_log_key(message_id)
    count = 0
    for entry in entries:
        pipe.xadd(
            key,
            entry.fields(),  # type: ignore[arg-type]  # redis-py's mapping type is invariant
            id=entry.id or "*",
            maxlen=redis_names.REPLY_LOG_MAXLEN,
            approximate=True,
        )
        count += 1
    return count


def stage_streaming_ttl(pipe: Pipeline, message_id: UUID | str) -> int:
    pipe.expire(redis_names.reply_log_key(message_id), redis_names.REPLY_LOG_STREAMING_TTL_SECONDS)
    return 1


def stage_heartbeat(pipe: Pipeline, message_id: UUID | str, *, check_cancel: bool) -> int:
    """The producer is alive; ``check_cancel``: the last command's answer says if a
    cancel is asked for."""
    pipe.set(
        redis_names.reply_heartbeat_key(message_id), "1", ex=redis_names.REPLY_HEARTBEAT_TTL_SECONDS
    )
    if not check_cancel:
        return 1
    pipe.exists(redis_names.reply_cancel_key(message_id))
    return 2


def stage_end(pipe: Pipeline, message_id: UUID | str, ttl_s: int) -> int:
    """After ``done``: the log kept ``ttl_s``, the heartbeat and the cancel key gone."""
    pipe.expire(redis_names.reply_log_key(message_id), ttl_s)
    pipe.delete(
        redis_names.reply_heartbeat_key(message_id), redis_names.reply_cancel_key(message_id)
    )
    return 2


async def start(client: redis.Redis, message_id: UUID | str) -> None:
    """The heartbeat, before the reply's response starts: readers wait for a live producer."""
    await client.set(
        redis_names.reply_heartbeat_key(message_id), "1", ex=redis_names.REPLY_HEARTBEAT_TTL_SECONDS
    )


async def append_ending(
    client: redis.Redis, message_id: UUID | str, entries: Iterable[Entry], ttl_s: int
) -> None:
    """A settled reply's last entries, for every reader, in one round trip."""
    async with client.pipeline(transaction=False) as pipe:
        stage_entries(pipe, message_id, entries)
        stage_end(pipe, message_id, ttl_s)
        await pipe.execute()


async def request_cancel(client: redis.Redis, message_id: UUID | str) -> bool:
    """Ask the producer to cancel; False if the reply had already ended."""
    key = redis_names.reply_cancel_key(message_id)
    if await client.set(key, CANCEL_REQUESTED, nx=True, ex=redis_names.REPLY_CANCEL_TTL_SECONDS):
        newest = await newest_entry(client, message_id)
        if newest is None or newest.kind != Kind.DONE:
            return True
        # Ended, and its end already cleared the key: this one must not linger.
        await client.delete(key)
        return False
    current = await client.get(key)
    text = current.decode() if isinstance(current, bytes) else current
    return text != ENDED


async def cancel_requested(client: redis.Redis, message_id: UUID | str) -> bool:
    """A cancel was accepted for this reply (and its producer had not ended it)."""
    value = await client.get(redis_names.reply_cancel_key(message_id))
    return (value.decode() if isinstance(value, bytes) else value) == CANCEL_REQUESTED


async def claim_end(client: redis.Redis, message_id: UUID | str) -> bool:
    """The producer's LLM call is over: True if it ends the reply as it is, False if a
    cancel came first (the reply then ends cancelled)."""
    key = redis_names.reply_cancel_key(message_id)
    return bool(await client.set(key, ENDED, nx=True, ex=redis_names.REPLY_CANCEL_TTL_SECONDS))
