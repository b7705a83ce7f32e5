"""How a raw stream reads its body: one ``await`` per read, whatever the HTTP client.

Through the SDKs' aiohttp client (``LLM_HTTP_CLIENT=aiohttp``) the body is read
straight from aiohttp's ``StreamReader``: each read takes all the bytes that
have come (several events when they came together) in one await, instead of
passing every token through httpx2's response iterators (``aiter_bytes`` →
``aiter_raw`` → the client's bound stream → the transport's iterator), four
async generators per read (issue 24). What the iterators added is kept: a
transport error becomes the httpx2 error the transport would have raised (its
own mapping), and a body the server compressed is still read through httpx2,
which decodes it. The SDK's read timeout is aiohttp's, per socket read either way.

Through httpx2's own client the body is ``aiter_bytes``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

# Reads the next bytes of the body; b"" once it is over.
BodyRead = Callable[[], Awaitable[bytes]]


def body_read(http_response: httpx2.Response) -> tuple[BodyRead, bool]:
    """(the read, whether it reads aiohttp's stream directly)."""
    content = _aiohttp_content(http_response)
    if content is not None:
        return content.readany, True
    chunks = http_response.aiter_bytes()
    return lambda: anext(chunks, b""), False


def _aiohttp_content(http_response: httpx2.Response) -> Any:
    """aiohttp's StreamReader under ``http_response``, if the SDK's aiohttp transport
    sent it and its body is not compressed; else None."""
    if http_response.headers.get("content-encoding", "identity") != "identity":
        return None
    # httpx2 wraps the transport's stream in its BoundAsyncStream (`_stream`), and the
    # vendored transport keeps aiohttp's response on its own stream (`_aiohttp_response`):
    # private names, so anything unexpected reads through httpx2 as before.
    stream = getattr(http_response.stream, "_stream", None)
    response = getattr(stream, "_aiohttp_response", None)
    return getattr(response, "content", None) if _is_aiohttp_stream(stream) else None


def _is_aiohttp_stream(stream: object) -> bool:
    try:
        from anthropic._vendor.httpx_aiohttp.transport import AiohttpResponseStream
    except ImportError:  # an SDK without the vendored transport
        return False
    return isinstance(stream, AiohttpResponseStream)


def as_httpx2_error(error: Exception) -> Exception:
    """An error aiohttp raised while the body was read, as the transport maps it (an
    httpx2 error), or itself where the transport would have let it through."""
    from anthropic._vendor.httpx_aiohttp.transport import map_aiohttp_exceptions

    try:
        with map_aiohttp_exceptions():
            raise error
    except Exception as mapped:
        return mapped
