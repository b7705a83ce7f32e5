"""Serve a reply's log as SSE: every resume reads it; the POST's own stream is fed by
its outbox in-process (:func:`follow_local`) and falls back to the log.

Each event carries its log entry's id (``id:``), so a client that reconnects
with ``Last-Event-ID`` gets exactly what it missed; ``retry:`` is sent once. A
reader follows the log with XREAD BLOCK until ``done``. If the producer's
heartbeat is gone and no ``done`` came, the reader settles the reply itself
(:mod:`pacer_common.reply_log.settle`: from the log, ``partial`` with the text so
far, or ``failed``; from the row when the producer died before its log began)
and logs its ``error`` and ``done`` for every reader. If the log is gone
(expired), the stored reply is sent as one delta with ``replace: true``, then
``done``. An id after anything the log holds (a forged one, or the largest
there is) replays the log from its start.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from uuid import UUID

import asyncpg
import redis.asyncio as redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from pacer_coach import sse
from pacer_common import redis_names, session_lifecycle
from pacer_common.logs import get_logger
from pacer_common.outages import OUTAGE_CLASSES, is_dependency_down
from pacer_common.reply_log import LoggedReply, entries, reading, settle, writing
from pacer_common.reply_log.entries import Entry
from pacer_common.stream_id import START, StreamId

log = get_logger(__name__)

# How long one XREAD waits before the reader checks the producer's heartbeat.
BLOCK_MS = 1000
RETRY_MS = 1000
# Timed-out reads in a row before the stream gives up on Redis.
MAX_READ_TIMEOUTS = 3
_STREAM_LOST: tuple[type[BaseException], ...] = (*OUTAGE_CLASSES, RedisTimeoutError)


def _event(entry: Entry, *, retry: bool = False) -> bytes:
    # An entry's data is already its event's JSON: it goes out as it is.
    return sse.event(entry.kind, entry.data, id=entry.id or None, retry=RETRY_MS if retry else None)


async def _from_postgres(pool: asyncpg.Pool, message_id: UUID) -> list[bytes] | None:
    """The stored reply as events; None while its row still says ``streaming``."""
    row = await session_lifecycle.stored_reply(pool, message_id)
    if row is None:
        return []
    if row.status not in entries.FINAL_STATUSES:
        return None
    ending = [entries.delta(row.content, 0, replace=True)]
    if row.error_code:
        ending.append(entries.error(row.error_code, "", retryable=False))
    done = entries.done(
        status=row.status,
        finish_reason=row.error_code or "stop",
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        latency_ms=0,
        is_final=row.is_final,
    )
    return [_event(entry) for entry in (*ending, done)]


async def _settle_dead(
    client: redis.Redis,
    pool: asyncpg.Pool,
    message_id: UUID,
    reply: LoggedReply | None,
    log_ttl_s: int,
) -> bool:
    """Settle a dead producer's reply and log its ending; False if another got there
    first (or, with no log, its row is too young to be given up on).

    With Postgres unreachable a logged reply's ending is logged all the same (the
    client gets its `error` and `done`); the row stays `streaming` and the reaper
    settles it from the log once Postgres is back.
    """
    # A cancel accepted before the producer died: the reply ends cancelled, as promised.
    cancelled = await writing.cancel_requested(client, message_id)
    if reply is None:
        async with pool.acquire() as conn:
            ending = await settle.settle_without_log(conn, message_id, cancelled=cancelled)
        if ending is None:
            return False
    else:
        status = await _settle_logged(pool, message_id, reply, cancelled=cancelled)
        if status is None:
            return False
        ending = settle.interrupted_ending(
            status, output_tokens=reply.output_tokens, cancelled=cancelled
        )
    await writing.append_ending(client, message_id, ending, log_ttl_s)
    log.warning("coach_reply_interrupted_settled", message_id=str(message_id))
    return True


async def _settle_logged(
    pool: asyncpg.Pool, message_id: UUID, reply: LoggedReply, *, cancelled: bool
) -> str | None:
    try:
        async with pool.acquire() as conn:
            settled = await settle.settle_from_log(conn, message_id, reply, cancelled=cancelled)
    except OUTAGE_CLASSES as error:
        if not is_dependency_down(error):
            raise
        log.warning("coach_reply_settle_deferred", message_id=str(message_id))
        return "partial" if reply.text else "failed"
    return settled.status if settled is not None else None


async def follow(
    client: redis.Redis,
    pool: asyncpg.Pool,
    message_id: UUID,
    after: StreamId = START,
    *,
    log_ttl_s: int,
    stopped: Callable[[], bool] = lambda: False,
) -> AsyncIterator[bytes]:
    """The log's events after ``after``, live until ``done`` (or until ``stopped()``).

    If Redis (or Postgres, for an expired log) stops answering, the stream ends
    cleanly with a retryable ``error`` that is not a log entry (no ``id:``), so
    the client resumes from its last real event: the reply itself goes on, and
    its producer stores it.
    """
    reader = _LogReader(client, pool, message_id, after, log_ttl_s)
    try:
        async for event in reader.events(stopped):
            yield event
    except _STREAM_LOST as error:
        if not (isinstance(error, RedisTimeoutError) or is_dependency_down(error)):
            raise
        log.warning(
            "coach_reply_stream_lost", message_id=str(message_id), error=type(error).__name__
        )
        yield sse.event(
            "error",
            entries.compact(
                {
                    "code": "unavailable",
                    "message": "Lost touch with the reply; reconnect to continue it.",
                    "retryable": True,
                }
            ),
        )


async def follow_local(
    feed: asyncio.Queue[Entry | None],
    unlisten: Callable[[], None],
    client: redis.Redis,
    pool: asyncpg.Pool,
    message_id: UUID,
    *,
    log_ttl_s: int,
) -> AsyncIterator[bytes]:
    """The POST's own stream, fed in this process: the same events with the same ids
    as :func:`follow` gives, without an XREAD per event. If the feed ends without
    ``done`` (Redis refused the last writes), the log takes over from the last id sent."""
    last = START
    try:
        while (entry := await feed.get()) is not None:
            yield _event(entry, retry=last == START)
            last = StreamId.parse(entry.id)
            if entry.kind == entries.Kind.DONE:
                return
    finally:
        unlisten()
    async for event in follow(client, pool, message_id, last, log_ttl_s=log_ttl_s):
        yield event


class _LogReader:
    """One reader's place in a log, and what it does when the log goes quiet."""

    def __init__(
        self,
        client: redis.Redis,
        pool: asyncpg.Pool,
        message_id: UUID,
        after: StreamId,
        log_ttl_s: int,
    ) -> None:
        self._client = client
        self._pool = pool
        self._message_id = message_id
        self._key = redis_names.reply_log_key(message_id)
        self._last = after
        self._log_ttl_s = log_ttl_s
        self._retry_sent = False
        self._place_checked = after == START

    async def events(self, stopped: Callable[[], bool]) -> AsyncIterator[bytes]:
        timeouts = 0
        while not stopped():
            try:
                found = await self._client.xread(
                    {self._key: str(self._last)}, count=500, block=BLOCK_MS
                )
            except RedisTimeoutError:
                # A slow answer on a loaded machine is not a dead Redis: ask again
                # (from the same id, so nothing is lost or repeated), a few times.
                timeouts += 1
                if timeouts >= MAX_READ_TIMEOUTS:
                    raise
                continue
            timeouts = 0
            if found:
                for entry in reading.parse_entries(found[0][1]):
                    yield self._send(entry)
                    if entry.kind == entries.Kind.DONE:
                        return
                continue
            ending = await self._quiet()
            if ending is not None:
                for event in ending:
                    yield event
                return

    def _send(self, entry: Entry) -> bytes:
        self._last = StreamId.parse(entry.id)
        self._place_checked = True
        event = _event(entry, retry=not self._retry_sent)
        self._retry_sent = True
        return event

    async def _quiet(self) -> list[bytes] | None:
        """Nothing new for BLOCK_MS: the events that end the stream, or None to read on."""
        if not self._place_checked:
            # An id after the log's newest entry follows nothing it holds: read it whole.
            self._place_checked = True
            newest = await reading.newest_entry(self._client, self._message_id)
            if newest is not None and StreamId.parse(newest.id) < self._last:
                self._last = START
                return None
        if await reading.producer_alive(self._client, self._message_id):
            return None
        reply = await reading.read_log(self._client, self._message_id)
        if reply is not None and reply.done is not None:
            if StreamId.parse(reply.done.id) <= self._last:
                return [self._send(reply.done)]  # resumed after `done`: it again, to end
            return None  # logged between the XREAD and now: the next read has it
        if await _settle_dead(self._client, self._pool, self._message_id, reply, self._log_ttl_s):
            return None
        return await _from_postgres(self._pool, self._message_id)
