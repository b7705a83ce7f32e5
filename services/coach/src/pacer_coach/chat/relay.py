"""Serve a reply's log as SSE: every resume reads it; the POST's own stream is fed by
its producer in-process (:func:`follow_local`) and falls back to the log.

Each event carries its log entry's id (``id:``), so a client that reconnects
with ``Last-Event-ID`` gets exactly what it missed; ``retry:`` is sent once. A
reader follows the log with XREAD BLOCK until ``done``. If the producer's
heartbeat is gone and no ``done`` came, the reader settles the reply itself
from the log (``partial`` with the text so far, ``interrupted``) and logs the
``error`` and ``done`` for every reader. If the log is gone (expired), the
stored reply is sent as one delta with ``replace: true``, then ``done``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import asyncpg
import redis.asyncio as redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from pacer_coach import sse
from pacer_coach.chat.session import LocalEntry, ReplyProducer
from pacer_common import redis_names, reply_log
from pacer_common.logs import get_logger
from pacer_common.outages import OUTAGE_CLASSES, is_dependency_down

log = get_logger(__name__)

# How long one XREAD waits before the reader checks the producer's heartbeat.
BLOCK_MS = 1000
RETRY_MS = 1000
# Timed-out reads in a row before the stream gives up on Redis.
MAX_READ_TIMEOUTS = 3
_STREAM_LOST: tuple[type[BaseException], ...] = (*OUTAGE_CLASSES, RedisTimeoutError)


def _json(payload: dict[str, Any]) -> str:
    # Compact, as the producer writes it: the log's JSON goes out as it is.
    return json.dumps(payload, separators=(",", ":"))


def _event(name: str, payload: dict[str, Any], entry_id: str | None = None) -> bytes:
    return sse.event(name, _json(payload), id=entry_id)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _from_postgres(pool: asyncpg.Pool, message_id: UUID) -> list[bytes]:
    # A coaching session's reply: is_final, as its `done` had it, is rebuilt as
    # "the session has ended and this is its last message".
    row = await pool.fetchrow(
        """SELECT m.content, m.status, m.error_code, m.input_tokens, m.output_tokens,
                  s.id IS NOT NULL AS in_session,
                  s.status IS DISTINCT FROM 'active' AND NOT EXISTS (
                      SELECT 1 FROM messages later
                      WHERE later.conversation_id = m.conversation_id
                        AND later.created_at > m.created_at
                  ) AS is_final
           FROM messages m LEFT JOIN coach_sessions s ON s.conversation_id = m.conversation_id
           WHERE m.id = $1""",
        message_id,
    )
    if row is None:
        return []
    done: dict[str, Any] = {
        "status": row["status"],
        "finish_reason": row["error_code"] or "stop",
        "usage": {"input_tokens": row["input_tokens"], "output_tokens": row["output_tokens"]},
        "latency_ms": 0,
    }
    if row["in_session"]:
        done["is_final"] = row["is_final"]
    events = [_event("delta", {"text": row["content"], "replace": True})]
    if row["error_code"]:
        events.append(
            _event("error", {"code": row["error_code"], "message": "", "retryable": False})
        )
    events.append(_event("done", done))
    return events


async def _settle_interrupted(
    client: redis.Redis, pool: asyncpg.Pool, message_id: UUID, reply: reply_log.LoggedReply
) -> bool:
    """Settle a dead producer's reply and log its ending; False if another got there first.

    With Postgres unreachable the ending is logged all the same (the client gets its
    `error` and `done`); the row stays `streaming` and the reaper settles it from
    the log once Postgres is back.
    """
    try:
        async with pool.acquire() as conn:
            settled = await reply_log.settle_from_log(conn, message_id, reply)
        if settled is None:
            return False
        status = settled.status
    except OUTAGE_CLASSES as error:
        if not is_dependency_down(error):
            raise
        log.warning("coach_reply_settle_deferred", message_id=str(message_id))
        status = "partial" if reply.text else "failed"
    key = redis_names.reply_log_key(message_id)
    done = {
        "status": status,
        "finish_reason": "interrupted",
        "usage": {"input_tokens": None, "output_tokens": reply.output_tokens},
        "latency_ms": 0,
    }
    async with client.pipeline(transaction=False) as pipe:
        pipe.xadd(
            key,
            {
                "t": "error",
                "d": _json(
                    {
                        "code": "interrupted",
                        "message": "The coach stopped mid-reply; this is what it wrote.",
                        "retryable": True,
                    }
                ),
            },
        )
        pipe.xadd(key, {"t": "done", "d": _json(done)})
        pipe.expire(key, redis_names.DEFAULT_REPLY_LOG_TTL_SECONDS)
        await pipe.execute()
    log.warning("coach_reply_interrupted_settled", message_id=str(message_id))
    return True


async def follow(
    client: redis.Redis,
    pool: asyncpg.Pool,
    message_id: UUID,
    after: str = reply_log.START,
    *,
    stopped: Callable[[], bool] = lambda: False,
) -> AsyncIterator[bytes]:
    """The log's events after ``after``, live until ``done`` (or until ``stopped()``).

    An entry's ``d`` is already its event's JSON: it goes out as it is, never
    parsed and encoded again. If Redis (or Postgres, for an expired log) stops
    answering, the stream ends cleanly with a retryable ``error`` that is not
    a log entry (no ``id:``), so the client resumes from its last real event:
    the reply itself goes on, and its producer stores it.
    """
    try:
        async for event in _follow(client, pool, message_id, after, stopped):
            yield event
    except _STREAM_LOST as error:
        if not (isinstance(error, RedisTimeoutError) or is_dependency_down(error)):
            raise
        log.warning(
            "coach_reply_stream_lost", message_id=str(message_id), error=type(error).__name__
        )
        yield _event(
            "error",
            {
                "code": "unavailable",
                "message": "Lost touch with the reply; reconnect to continue it.",
                "retryable": True,
            },
        )


async def follow_local(
    producer: ReplyProducer,
    feed: asyncio.Queue[LocalEntry | None],
    client: redis.Redis,
    pool: asyncpg.Pool,
    message_id: UUID,
) -> AsyncIterator[bytes]:
    """The POST's own stream, fed by its producer in this process: the same events
    with the same ids as :func:`follow` gives, without an XREAD per event. If the
    feed ends without ``done`` (Redis refused the last writes), the log takes over
    from the last id sent."""
    last = reply_log.START
    retry_sent = False
    try:
        while (entry := await feed.get()) is not None:
            yield sse.event(
                entry.kind, entry.data, id=entry.id, retry=None if retry_sent else RETRY_MS
            )
            retry_sent = True
            last = entry.id
            if entry.kind == "done":
                return
    finally:
        producer.unlisten(feed)
    async for event in follow(client, pool, message_id, last):
        yield event


async def _follow(
    client: redis.Redis,
    pool: asyncpg.Pool,
    message_id: UUID,
    after: str,
    stopped: Callable[[], bool],
) -> AsyncIterator[bytes]:
    key = redis_names.reply_log_key(message_id)
    last = after
    retry_sent = False
    timeouts = 0
    while not stopped():
        try:
            found = await client.xread({key: last}, count=500, block=BLOCK_MS)
        except RedisTimeoutError:
            # A slow answer on a loaded machine is not a dead Redis: ask again
            # (from the same id, so nothing is lost or repeated), a few times.
            timeouts += 1
            if timeouts >= MAX_READ_TIMEOUTS:
                raise
            continue
        timeouts = 0
        if not found:
            if await reply_log.producer_alive(client, message_id):
                continue
            reply = await reply_log.read_log(client, message_id)
            if reply is None:
                for event in await _from_postgres(pool, message_id):
                    yield event
                return
            if reply.done is not None:
                continue  # logged between the XREAD and now: the next read has it
            if not await _settle_interrupted(client, pool, message_id, reply):
                for event in await _from_postgres(pool, message_id):
                    yield event
                return
            continue
        for raw_id, fields in found[0][1]:
            last = _text(raw_id)
            kind = _text(fields.get("t") or fields.get(b"t") or "")
            data = _text(fields.get("d") or fields.get(b"d") or "{}")
            yield sse.event(kind, data, id=last, retry=None if retry_sent else RETRY_MS)
            retry_sent = True
            if kind == "done":
                return
