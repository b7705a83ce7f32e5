"""The coach's SSE: events encoded once to bytes, and the response that writes them.

A stream (chat, resume, notifications) holds a slot, which the response gives
back however it ends. Its body is an async iterator of already-encoded events
(:func:`event`): the response writes each as it comes, with nothing per event
but the ASGI ``send`` — no task group, cancel scope or timeout per event, no
event objects. Beside it run two small tasks for the whole stream: one watches
for the client's disconnect (and then stops the stream), one sends a keep-alive
comment when nothing was sent for ``ping`` seconds.

The bytes are those sse-starlette wrote (which this replaced): ``id:``,
``event:``, ``data:`` lines, then ``retry:``, each ending in CRLF, and a blank
line; pings are ``: ping - <UTC time>`` comments.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Mapping

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

SEP = "\r\n"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

_HEADERS = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
)


def event(
    name: str | None = None,
    data: str | None = None,
    *,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """One SSE event, encoded::

    >>> event("delta", '{"text":"Hi"}', id="1-0")
    b'id: 1-0\\r\\nevent: delta\\r\\ndata: {"text":"Hi"}\\r\\n\\r\\n'
    """
    parts = []
    if id is not None:
        parts.append(f"id: {_LINE_BREAK.sub('', id)}{SEP}")
    if name is not None:
        parts.append(f"event: {_LINE_BREAK.sub('', name)}{SEP}")
    if data is not None:
        if "\n" in data or "\r" in data:
            parts.extend(f"data: {line}{SEP}" for line in _LINE_BREAK.split(data))
        else:
            parts.append(f"data: {data}{SEP}")
    if retry is not None:
        parts.append(f"retry: {retry}{SEP}")
    parts.append(SEP)
    return "".join(parts).encode()


def _ping() -> bytes:
    return f": ping - {dt.datetime.now(dt.UTC)}{SEP}{SEP}".encode()


class SlotResponse(Response):
    """An SSE response over pre-encoded events that gives the stream's slot back
    however it ends, even if it never started."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        ping: float,
        release: Callable[[], None],
        headers: Mapping[str, str] | None = None,
        status_code: int = 200,
    ) -> None:
        self.body_iterator = content
        self.status_code = status_code
        self.background = None
        self.ping_s = ping
        self._release = release
        extra = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in (headers or {}).items()
        ]
        self.raw_headers = [*extra, *_HEADERS]
        self._sent_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._respond(scope, receive, send)
        finally:
            self._release()

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message = {
            "type": "http.response.start",
            "status": self.status_code,
            "headers": self.raw_headers,
        }
        if scope.get("method") == "HEAD":
            # Headers only: an endless body would wedge the connection.
            await send(start)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            await _close(self.body_iterator)
            return
        loop = asyncio.get_running_loop()
        self._sent_at = loop.time()
        writing = asyncio.current_task()
        assert writing is not None
        gone = asyncio.Event()
        lock = asyncio.Lock()  # a ping never lands inside an event
        watch = asyncio.create_task(self._watch_disconnect(receive, writing, gone))
        pinger = (
            asyncio.create_task(self._keep_alive(send, lock, loop)) if self.ping_s > 0 else None
        )
        try:
            await send(start)
            self._sent_at = loop.time()
            async for chunk in self.body_iterator:
                async with lock:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self._sent_at = loop.time()
            async with lock:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            # The client left: the watcher cancelled this task; anything else propagates.
            if not gone.is_set() or writing.uncancel() > 0:
                raise
        finally:
            watch.cancel()
            if pinger is not None:
                pinger.cancel()
            await _close(self.body_iterator)

    @staticmethod
    async def _watch_disconnect(
        receive: Receive, writing: asyncio.Task[object], gone: asyncio.Event
    ) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
                writing.cancel()
                return

    async def _keep_alive(
        self, send: Send, lock: asyncio.Lock, loop: asyncio.AbstractEventLoop
    ) -> None:
        """A comment once ``ping`` seconds pass with nothing sent (proxies drop silent streams)."""
        while True:
            await asyncio.sleep(max(0.0, self._sent_at + self.ping_s - loop.time()))
            if loop.time() - self._sent_at < self.ping_s:
                continue
            async with lock:
                await send({"type": "http.response.body", "body": _ping(), "more_body": True})
            self._sent_at = loop.time()


async def _close(iterator: AsyncIterator[bytes]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
