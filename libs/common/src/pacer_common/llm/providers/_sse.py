"""A small server-sent-events decoder for the providers' raw streams.

The SDKs decode a stream into typed objects (a pydantic model per event, built
field by field); reading a long answer that way costs more CPU than the rest of
the relay. Both providers' streams are plain SSE with one JSON object per
``data:``, so :class:`SSEReader` splits the bytes into ``(event, data)`` pairs
and the provider reads only the fields it needs from ``json.loads``.

It follows the SSE parsing rules the providers' streams use: lines end in LF or
CRLF, a blank line dispatches the event, ``data:`` lines join with LF, one space
after the colon is dropped, comments (``:``) and other fields are ignored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable


class SSEReader:
    """``await reader.next()``: the next ``(event, data)``, or None at the end of the bytes.

    ``read`` gives the next bytes of the body, b"" once it is over.

    >>> import asyncio
    >>> async def read_all():
    ...     chunks = iter([b"event: ping\\ndata: {}\\n\\nevent: de",
    ...                    b"lta\\r\\ndata: a\\r\\ndata: b\\r\\n\\r\\n"])
    ...     async def read():
    ...         return next(chunks, b"")
    ...     reader = SSEReader(read)
    ...     return [await reader.next(), await reader.next(), await reader.next()]
    >>> asyncio.run(read_all())
    [('ping', '{}'), ('delta', 'a\\nb'), None]
    """

    def __init__(self, read: Callable[[], Awaitable[bytes]]) -> None:
        self._read = read
        self._partial = b""
        self._ready: deque[tuple[str, str]] = deque()
        self._event = ""
        self._data: list[bytes] = []

    async def next(self) -> tuple[str, str] | None:
        while not self._ready:
            chunk = await self._read()
            if not chunk:
                # An event not closed by a blank line is not dispatched (the SSE rule).
                return None
            self._feed(chunk)
        return self._ready.popleft()

    def _feed(self, chunk: bytes) -> None:
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    self._ready.append((self._event, b"\n".join(self._data).decode()))
                self._event, self._data = "", []
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                self._data.append(value)
            elif name == b"event":
                self._event = value.decode()
