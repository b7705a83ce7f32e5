"""The reply logs in the coach process's memory, for ``make bench-coach`` only. NOT DURABLE.

It exists so that the benchmark can measure what the Redis log costs (coach CPU
per relayed token with the log and without it, in one run): the coach runs with
this as its reply-log client (:mod:`pacer_devstack.coach_without_log`), which
answers the few Redis commands the coach's reply log sends
(:mod:`pacer_common.reply_log.writing`, the log writer, the readers, the cancel
route, ``reply.done``'s announcement) with Redis's replies
(``decode_responses=True``), so the code under measurement is the code that
runs in production. A reply lives only in the process that produced it: no
resume on another coach, nothing survives a restart, and ``reply.done`` never
reaches ``GET /v1/coach/events``. It lives here, not in the service: production
cannot be started with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Self

from pacer_common.stream_id import StreamId

# Expired keys are dropped when touched, and all at once every this many writes.
_PURGE_EVERY_WRITES = 1000


class MemoryReplyLog:
    """The subset of ``redis.asyncio.Redis`` the reply log uses: strings, streams, TTLs."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._streams: dict[str, list[tuple[StreamId, dict[str, str]]]] = {}
        self._expires_at: dict[str, float] = {}
        self._appended: dict[str, asyncio.Event] = {}
        self._writes = 0

    # -- keys --------------------------------------------------------------------

    def _alive(self, key: str) -> bool:
        expires_at = self._expires_at.get(key)
        if expires_at is not None and expires_at <= time.monotonic():
            self._drop(key)
        return key in self._values or key in self._streams

    def _drop(self, key: str) -> bool:
        self._expires_at.pop(key, None)
        return self._values.pop(key, None) is not None or self._streams.pop(key, None) is not None

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes % _PURGE_EVERY_WRITES == 0:
            now = time.monotonic()
            for key in [key for key, at in self._expires_at.items() if at <= now]:
                self._drop(key)

    async def set(
        self, name: str, value: str, ex: int | None = None, nx: bool = False
    ) -> bool | None:
        if nx and self._alive(name):
            return None
        self._streams.pop(name, None)
        self._values[name] = str(value)
        if ex is not None:
            self._expires_at[name] = time.monotonic() + ex
        else:
            self._expires_at.pop(name, None)
        self._wrote()
        return True

    async def get(self, name: str) -> str | None:
        return self._values.get(name) if self._alive(name) else None

    async def exists(self, *names: str) -> int:
        return sum(1 for name in names if self._alive(name))

    async def delete(self, *names: str) -> int:
        return sum(1 for name in names if self._alive(name) and self._drop(name))

    async def expire(self, name: str, time_s: int) -> bool:
        if not self._alive(name):
            return False
        self._expires_at[name] = time.monotonic() + time_s
        return True

    # -- streams -----------------------------------------------------------------

    async def xadd(
        self,
        name: str,
        fields: Mapping[str, Any],
        id: str = "*",
        maxlen: int | None = None,
        approximate: bool = True,
    ) -> str:
        self._alive(name)
        entries = self._streams.setdefault(name, [])
        milliseconds = int(time.time() * 1000)
        if id != "*":
            entry_id = StreamId.parse(id)
            if entries and entry_id <= entries[-1][0]:
                raise ValueError("The ID specified in XADD is equal or smaller than the top item")
        elif entries and entries[-1][0].ms >= milliseconds:
            entry_id = StreamId(entries[-1][0].ms, entries[-1][0].seq + 1)
        else:
            entry_id = StreamId(milliseconds, 0)
        entries.append((entry_id, {str(k): str(v) for k, v in fields.items()}))
        if maxlen is not None and len(entries) > maxlen:
            del entries[: len(entries) - maxlen]
        appended = self._appended.pop(name, None)
        if appended is not None:
            appended.set()
        self._wrote()
        return str(entry_id)

    async def xrevrange(
        self, name: str, count: int | None = None
    ) -> list[tuple[str, dict[str, str]]]:
        newest = list(reversed(await self.xrange(name)))
        return newest if count is None else newest[:count]

    async def xrange(self, name: str) -> list[tuple[str, dict[str, str]]]:
        if not self._alive(name):
            return []
        return [(str(i), dict(fields)) for i, fields in self._streams.get(name, [])]

    def _after(self, name: str, last: str, count: int | None) -> list[tuple[str, dict[str, str]]]:
        if not self._alive(name):
            return []
        after = StreamId.parse(last)
        found = [(str(i), dict(fields)) for i, fields in self._streams.get(name, []) if i > after]
        return found[:count] if count is not None else found

    async def xread(
        self, streams: Mapping[str, str], count: int | None = None, block: int | None = None
    ) -> list[list[Any]]:
        """Redis's answer shape: ``[[key, [(id, fields), ...]], ...]``, or ``[]`` after ``block`` ms."""
        deadline = None if block is None else time.monotonic() + block / 1000
        while True:
            found = [
                [name, entries]
                for name, last in streams.items()
                if (entries := self._after(name, last, count))
            ]
            if found or deadline is None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            waits = [
                asyncio.ensure_future(self._appended.setdefault(name, asyncio.Event()).wait())
                for name in streams
            ]
            try:
                await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()

    def pipeline(self, transaction: bool = True) -> _Pipeline:
        # One process, one loop: every pipeline is as atomic as a MULTI.
        return _Pipeline(self)


class _Pipeline:
    """Commands queued as redis-py queues them, run in order by ``execute``."""

    def __init__(self, store: MemoryReplyLog) -> None:
        self._store = store
        self._queued: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._queued.clear()

    def _queue(self, command: str, *args: Any, **kwargs: Any) -> Self:
        self._queued.append((command, args, kwargs))
        return self

    def set(self, *args: Any, **kwargs: Any) -> Self:
        return self._queue("set", *args, **kwargs)

    def exists(self, *args: Any) -> Self:
        return self._queue("exists", *args)

    def delete(self, *args: Any) -> Self:
        return self._queue("delete", *args)

    def expire(self, *args: Any) -> Self:
        return self._queue("expire", *args)

    def xadd(self, *args: Any, **kwargs: Any) -> Self:
        return self._queue("xadd", *args, **kwargs)

    def xrevrange(self, *args: Any, **kwargs: Any) -> Self:
        return self._queue("xrevrange", *args, **kwargs)

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        queued, self._queued = self._queued, []
        results: list[Any] = []
        for command, args, kwargs in queued:
            try:
                results.append(await getattr(self._store, command)(*args, **kwargs))
            except ValueError as error:
                # Redis answers the other commands and reports this one's error in its place.
                if raise_on_error:
                    raise
                results.append(error)
        return results
