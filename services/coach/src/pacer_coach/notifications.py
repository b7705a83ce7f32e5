"""The user's notification stream as SSE: its caps, where a client resumes, and the live follow.

The stream is a Redis Stream per user (``pacer:notify:<user>``, written through
:func:`pacer_common.notifications.publish`; caps and TTL in
:mod:`pacer_common.redis_names`). Every event's ``id:`` is its entry id, so the
browser's ``Last-Event-ID`` on a reconnect says exactly where to resume.

Following: each open stream waits in its own ``XREAD BLOCK`` on its own
connection from a dedicated pool (``EVENTS_MAX_CONNECTIONS`` of them). A single
reader fanning out per process would hold one connection instead of N, but it
must interrupt its blocking read whenever a user joins (a new key to read) and
its slowest consumer holds back the rest; N idle connections cost Redis a few KB
each and no CPU while nothing is written, and the per-process cap bounds them.

A stream opened without ``Last-Event-ID`` starts with an ``id:`` (on the
``retry:`` block, which is no event): the newest entry's, or for a stream not
yet written a point just before anything it could hold. So a tab that has
received no event yet can still resume without missing one.

Resuming from ``Last-Event-ID`` ``L``: the entries after ``L`` are replayed,
unless some entry after ``L`` may have been lost, in which case a ``reset``
event comes first (the client reloads its state) and nothing is replayed:

- trimmed: entries were removed (``entries-added`` > ``length``) and ``L`` is
  older than the first entry kept (if ``L`` was itself the last one trimmed,
  nothing was missed but the reset is sent anyway: a client that far behind
  reloads either way);
- expired (the key is gone): ``L`` is older than the TTL, counted on Redis' clock
  (the TTL is refreshed on each write, so a key written after ``L`` cannot have
  expired sooner than ``L`` + TTL);
- expired and written again: the new first entry is more than a TTL after ``L``;
- ``L`` is newer than anything the stream ever held, or than Redis's clock if
  there is no stream (a forged or foreign id).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

import redis.asyncio as redis
from redis.exceptions import ResponseError

from pacer_coach import sse
from pacer_coach.settings import CoachSettings
from pacer_common import redis_names
from pacer_common.errors import BadRequest, ServiceUnavailable, TooManyRequests
from pacer_common.logs import get_logger
from pacer_common.outages import is_dependency_down
from pacer_common.stream_id import MAX_PART, StreamId

log = get_logger(__name__)

# What the browser waits before reconnecting (sent once, as `retry:`).
RETRY_MS = 3000
# One blocking read's longest wait: it bounds how long a dead Redis goes unnoticed.
BLOCK_MS = 10_000
# A client refused for holding too many streams: about a reconnect's time.
PER_USER_RETRY_AFTER_S = 5


def parse_last_event_id(values: list[str]) -> StreamId | None:
    """The ``Last-Event-ID`` header (at most one) as a stream id ``<ms>-<seq>``; else 400."""
    if not values:
        return None
    try:
        if len(values) == 1:
            return StreamId.parse(values[0])
    except ValueError:
        pass
    raise BadRequest(
        "Last-Event-ID: send back the id of the last event received, as sent.",
        code="invalid_last_event_id",
    )


class EventStreams:
    """The open notification streams of this process: their caps, and their end on SIGTERM."""

    def __init__(self, *, cap: int, per_user_cap: int) -> None:
        self._cap = cap
        self._per_user_cap = per_user_cap
        self._owners: dict[int, UUID] = {}
        self._per_user: Counter[UUID] = Counter()
        self._next_id = 0
        # Set on SIGTERM: every stream ends at once (the client reconnects to a
        # replica that stays, with its Last-Event-ID), so no drain waits on them.
        self.closing = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: CoachSettings) -> EventStreams:
        return cls(
            cap=settings.EVENTS_MAX_CONNECTIONS, per_user_cap=settings.EVENTS_MAX_STREAMS_PER_USER
        )

    def __len__(self) -> int:
        return len(self._owners)

    def reserve(self, user_id: UUID) -> int:
        if self.closing.is_set():
            raise ServiceUnavailable(
                "The coach is restarting; try again in a moment.",
                code="shutting_down",
                retry_after_s=2,
            )
        if self._per_user[user_id] >= self._per_user_cap:
            raise TooManyRequests(
                f"You already have {self._per_user_cap} event streams open; close one first.",
                code="too_many_streams",
                retry_after_s=PER_USER_RETRY_AFTER_S,
                extra={"limit": self._per_user_cap},
            )
        if len(self._owners) >= self._cap:
            log.warning("coach_events_at_capacity", open=len(self._owners), cap=self._cap)
            raise ServiceUnavailable(
                "The coach is at capacity; try again shortly.", code="at_capacity", retry_after_s=5
            )
        self._next_id += 1
        self._owners[self._next_id] = user_id
        self._per_user[user_id] += 1
        return self._next_id

    def release(self, slot: int) -> None:
        """Idempotent."""
        user_id = self._owners.pop(slot, None)
        if user_id is not None:
            self._per_user[user_id] -= 1
            if self._per_user[user_id] <= 0:
                del self._per_user[user_id]

    def close(self) -> None:
        self.closing.set()


def _sse(entry_id: str, fields: dict[str, str]) -> bytes:
    return sse.event(fields.get("type", "message"), fields["data"], id=entry_id)


@dataclass(frozen=True)
class StartPoint:
    """What to send before following, and the id to follow from."""

    events: list[bytes]
    follow_from: str
    # Sent as the first block's ``id:`` when the client sent no Last-Event-ID.
    resume_from: str | None = None


async def start_point(client: redis.Redis, user_id: UUID, last: StreamId | None) -> StartPoint:
    """Read on the request's task, before the response starts: once the client has
    the headers, nothing written after them can be missed."""
    key = redis_names.notify_key(user_id)
    if last is None:
        newest = await client.xrevrange(key, count=1)
        if newest:
            return StartPoint([], newest[0][0], resume_from=newest[0][0])
        # Followed from the start (an entry stamped by a clock that stepped back is
        # still sent); resumable from just before any entry a new stream holds.
        return StartPoint([], "0-0", resume_from=_just_before(await _redis_ms(client)))
    # Replay first, check for a gap second: a trim in between shows as a gap
    # (a reset), never as a silent hole in the replay.
    # Nothing can follow the largest id (and Redis refuses a range from after it).
    entries = [] if last.is_max else await client.xrange(key, min=f"({last}", max="+")
    try:
        info = await client.xinfo_stream(key)
    except ResponseError:  # no such key: never written, or expired
        info = None
    now_ms = await _redis_ms(client)
    ttl_ms = redis_names.NOTIFY_TTL_SECONDS * 1000
    if info is None:
        gap = now_ms - last.ms > ttl_ms or last.ms > now_ms
        newest_id = _just_before(now_ms)
    else:
        first = StreamId.parse(info["first-entry"][0]) if info.get("first-entry") else None
        trimmed = int(info.get("entries-added", 0)) > int(info["length"])
        gap = (
            # MAXLEN removes the oldest entries: if any went, all before the first kept did.
            (trimmed and (first is None or last < first))
            or last < StreamId.parse(info.get("max-deleted-entry-id") or "0-0")  # XDEL
            or last > StreamId.parse(info["last-generated-id"])
            or (first is not None and first.ms - last.ms > ttl_ms)
        )
        newest_id = str(info["last-generated-id"])
    if gap:
        reset = sse.event(
            "reset",
            json.dumps({"reason": "events were missed; reload your state"}),
            id=newest_id,
        )
        return StartPoint([reset], newest_id)
    events = [_sse(entry_id, fields) for entry_id, fields in entries]
    return StartPoint(events, entries[-1][0] if entries else str(last))


async def _redis_ms(client: redis.Redis) -> int:
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _just_before(now_ms: int) -> str:
    """An id just before anything a stream created from now on can hold (ids never
    repeat a past millisecond)."""
    return f"{now_ms - 1}-{MAX_PART}"


async def follow(
    reader: redis.Redis, user_id: UUID, start: StartPoint, closing: asyncio.Event
) -> AsyncIterator[bytes]:
    """``retry:``, the start point's events, then each new entry until the client
    leaves, the process stops, or Redis fails (the client then reconnects and resumes)."""
    key = redis_names.notify_key(user_id)
    yield sse.event(id=start.resume_from, retry=RETRY_MS)
    for event in start.events:
        yield event
    last_id = start.follow_from
    stop = asyncio.ensure_future(closing.wait())
    try:
        while not closing.is_set():
            read = asyncio.ensure_future(reader.xread({key: last_id}, block=BLOCK_MS))
            try:
                await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not read.done():
                    # redis-py drops a connection cancelled mid-read: never reused half-read.
                    read.cancel()
            if not read.done() or read.cancelled():
                return
            try:
                result = read.result()
            except Exception as error:
                if not is_dependency_down(error):
                    raise
                log.warning("coach_events_redis_lost", error=str(error))
                return
            for _, entries in result or []:
                for entry_id, fields in entries:
                    last_id = entry_id
                    yield _sse(entry_id, fields)
    finally:
        stop.cancel()
