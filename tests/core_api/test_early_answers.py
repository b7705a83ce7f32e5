"""Issue 19, point 2, at the service: an answer given before the request's body was
read says ``Connection: close`` and ends the connection, so that a proxy never
hands the half-read connection to someone else's request."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from fixtures.core_api import Athlete, CoreApi


async def _exchange(core_api: CoreApi, head: bytes, body: bytes) -> tuple[bytes, bool]:
    """Send one request; its response head, and whether the server then closed."""
    address = urlsplit(core_api.base_url)
    assert address.hostname is not None and address.port is not None
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(head + body)
        await writer.drain()
        async with asyncio.timeout(10):
            response_head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in response_head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
        try:
            # EOF at once if the server closed the connection; an open one stays
            # silent (until hypercorn's 5 s keep-alive timeout, far beyond this).
            closed = await asyncio.wait_for(reader.read(1), 1.0) == b""
        except TimeoutError:
            closed = False
        return response_head, closed
    finally:
        writer.close()


def _post(path: str, length: int, extra: bytes = b"") -> bytes:
    return (
        (
            f"POST {path} HTTP/1.1\r\nHost: pacer.test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n"
        ).encode()
        + extra
        + b"\r\n"
    )


async def test_a_413_before_the_body_closes_the_connection(core_api: CoreApi) -> None:
    limit = core_api.settings.MAX_REQUEST_BODY_BYTES
    body = b"x" * (limit + 1)
    head, closed = await _exchange(core_api, _post("/v1/checkins", len(body)), body[:1000])
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"connection: close" in head.lower(), head
    assert closed


async def test_a_401_before_the_body_closes_the_connection(core_api: CoreApi) -> None:
    body = b'{"sleep_hours": 7, "soreness": 2, "mood": 4}'
    head, closed = await _exchange(core_api, _post("/v1/checkins", len(body)), body)
    assert head.startswith(b"HTTP/1.1 401"), head
    assert b"connection: close" in head.lower(), head
    assert closed


async def test_an_answer_after_the_whole_body_keeps_the_connection(
    core_api: CoreApi, athlete: Athlete
) -> None:
    """Guards the cases above: only an unread body costs the connection."""
    body = b'{"sleep_hours": 7, "soreness": 2, "mood": 4}'
    auth = f"Authorization: {athlete.headers['Authorization']}\r\n".encode()
    head, closed = await _exchange(core_api, _post("/v1/checkins", len(body), auth), body)
    assert head.split(b"\r\n", 1)[0] in (b"HTTP/1.1 200 ", b"HTTP/1.1 201 "), head
    assert b"connection: close" not in head.lower()
    assert not closed
