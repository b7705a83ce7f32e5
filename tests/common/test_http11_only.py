"""Every Pacer web service speaks HTTP/1.1 only (issue 19, point 1): an ``Upgrade: h2c``
gets an ordinary answer, never ``101 Switching Protocols``, and HTTP/2 with prior
knowledge is refused. Inside such a tunnel the proxy would be the peer, so its
X-Forwarded-For would be believed for requests it never saw."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

import pytest

from fixtures.coach import Coach
from fixtures.core_api import CoreApi

H2C_UPGRADE = (
    b"GET /health HTTP/1.1\r\nHost: pacer.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
)
# The HTTP/2 connection preface, as a client with prior knowledge sends it.
H2_PRIOR_KNOWLEDGE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"


async def _first_bytes(base_url: str, request: bytes) -> bytes:
    """What the server sends first (up to its status line and headers), or b"" if it hangs up."""
    address = urlsplit(base_url)
    assert address.hostname is not None and address.port is not None
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(request)
        await writer.drain()
        received = b""
        # An HTTP/2 server answers the preface with a SETTINGS frame and waits:
        # what came within the second is the answer.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1 if request == H2_PRIOR_KNOWLEDGE else 5):
                while b"\r\n\r\n" not in received:
                    chunk = await reader.read(4096)
                    if not chunk:
                        break
                    received += chunk
        return received
    finally:
        writer.close()


@pytest.fixture(params=["core-api", "coach"])
def service_url(request: pytest.FixtureRequest) -> str:
    service: CoreApi | Coach = request.getfixturevalue(
        "core_api" if request.param == "core-api" else "coach"
    )
    return service.base_url


async def test_an_h2c_upgrade_is_answered_over_http_1_1(service_url: str) -> None:
    reply = await _first_bytes(service_url, H2C_UPGRADE)
    status_line = reply.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 200"), reply[:200]
    assert b"upgrade" not in reply.lower(), reply[:400]


async def test_http2_with_prior_knowledge_is_refused(service_url: str) -> None:
    reply = await _first_bytes(service_url, H2_PRIOR_KNOWLEDGE)
    # An HTTP/1.1 error, or the connection closed: never an HTTP/2 SETTINGS frame.
    assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:200]
