"""A raw stream's body read straight from aiohttp (``LLM_HTTP_CLIENT=aiohttp``, issue 24):
the path is taken in both dialects, and what only a fake wire can play gives what the
httpx2 path gives: events split anywhere or several in one read, a body cut mid-event,
and a compressed body (read through httpx2, which decodes it)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from common.test_llm_raw_stream import (
    ANTHROPIC_END,
    ANTHROPIC_START,
    OPENAI_USAGE,
    _anthropic_events,
    _anthropic_text,
    _openai_chunks,
    _openai_text,
    ask,
    outcome,
)

from fixtures.infra import free_port
from fixtures.llm_client import LLMClients, model_of
from fixtures.llm_sim import LLMSim, sdk_settings
from pacer_common.llm import LLMError
from pacer_common.llm.attempt import Attempt
from pacer_common.llm.providers import SdkTimeouts, build_provider
from pacer_common.llm.providers._sdk import HttpClientKind, RawEventStream
from pacer_common.llm.registry import Provider

# How long a stalled wire waits before it goes on: longer than any timeout here.
STALL_S = 2.0
# The SDK's read timeout when a test makes it the one that fires.
SDK_READ_S = 0.3


class FakeWire:
    """An aiohttp server that answers every POST with ``body``, written in pieces of
    ``split_every`` bytes (each its own write), gzipped if asked, stalled after it
    (for STALL_S) and cut short if asked."""

    def __init__(self) -> None:
        self.body = b""
        self.split_every: int | None = None
        self.gzip = False
        self.cut = False
        self.stall = False
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = {"content-type": "text/event-stream"}
        body = self.body
        if self.gzip:
            body, headers["content-encoding"] = gzip.compress(body), "gzip"
        if self.cut:
            headers["content-length"] = str(len(body) + 100)  # promised, never sent
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        step = self.split_every or len(body)
        for start in range(0, len(body), step):
            await response.write(body[start : start + step])
            await asyncio.sleep(0)  # each piece its own read, as far as the loop allows
        if self.stall:
            await asyncio.sleep(STALL_S)
        if self.cut:
            if request.transport is not None:  # None once a stalled client has gone
                request.transport.close()
            return response
        await response.write_eof()
        return response


@pytest_asyncio.fixture(loop_scope="session")
async def wire() -> AsyncIterator[FakeWire]:
    fake = FakeWire()
    app = web.Application()
    app.router.add_post("/{path:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


def _settings(url: str, http_client: str) -> dict[str, Any]:
    return {**sdk_settings(url), "LLM_FALLBACK_ORDER": "", "LLM_HTTP_CLIENT": http_client}


BODIES: dict[Provider, tuple[bytes, dict[str, Any]]] = {
    "anthropic": (
        _anthropic_events(
            ANTHROPIC_START,
            ("ping", '{"type":"ping"}'),
            _anthropic_text("Easy "),
            _anthropic_text("does it. \u00e9"),
            *ANTHROPIC_END,
        ).replace(b"\n", b"\r\n"),
        {"texts": ["Easy ", "does it. \u00e9"], "end": (5, 2, "stop")},
    ),
    "openai": (
        _openai_chunks(
            _openai_text("Easy "), _openai_text("does it."), _openai_text("", "stop"), OPENAI_USAGE
        ),
        {"texts": ["Easy ", "does it."], "end": (6, 2, "stop")},
    ),
}


def _spy_streams(monkeypatch: pytest.MonkeyPatch) -> list[RawEventStream]:
    """The raw streams the attempts open, kept for a look at how they read."""
    opened: list[RawEventStream] = []
    first_part: Callable[..., Any] = Attempt.first_part

    async def spying(attempt: Attempt) -> Any:
        part = await first_part(attempt)
        stream = attempt._stream
        assert isinstance(stream, RawEventStream)
        opened.append(stream)
        return part

    monkeypatch.setattr(Attempt, "first_part", spying)
    return opened


@pytest.mark.parametrize("provider", sorted(BODIES))
async def test_the_aiohttp_client_reads_aiohttp_directly_and_httpx2_does_not(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _spy_streams(monkeypatch)
    for http_client in ("aiohttp", "httpx"):
        client = llm_clients(**_settings(sim.base_url, http_client))
        seen = await outcome(client, ask(model_of(provider)))
        assert "end" in seen, seen
    assert [stream.reads_aiohttp for stream in opened] == [True, False]


@pytest.mark.parametrize("split_every", [None, 1, 7])
@pytest.mark.parametrize("provider", sorted(BODIES))
async def test_events_split_anywhere_or_read_together_give_the_text_and_the_usage(
    wire: FakeWire, llm_clients: LLMClients, provider: Provider, split_every: int | None
) -> None:
    wire.body, expected = BODIES[provider]
    wire.split_every, wire.gzip, wire.cut, wire.stall = split_every, False, False, False
    client = llm_clients(**_settings(wire.url, "aiohttp"))
    assert await outcome(client, ask(model_of(provider))) == expected


@pytest.mark.parametrize("provider", sorted(BODIES))
async def test_a_compressed_body_is_decoded_as_on_httpx2(
    wire: FakeWire, llm_clients: LLMClients, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _spy_streams(monkeypatch)
    wire.body, expected = BODIES[provider]
    wire.split_every, wire.gzip, wire.cut, wire.stall = 9, True, False, False
    client = llm_clients(**_settings(wire.url, "aiohttp"))
    assert await outcome(client, ask(model_of(provider))) == expected
    assert [stream.reads_aiohttp for stream in opened] == [False]


@pytest.mark.parametrize("provider", sorted(BODIES))
async def test_a_body_cut_mid_event_is_the_same_error_as_on_httpx2(
    wire: FakeWire, llm_clients: LLMClients, provider: Provider
) -> None:
    body, _ = BODIES[provider]
    wire.body = body[: len(body) * 2 // 3]
    wire.split_every, wire.gzip, wire.cut, wire.stall = 11, False, True, False
    seen = {}
    for http_client in ("aiohttp", "httpx"):
        client = llm_clients(**_settings(wire.url, http_client))
        seen[http_client] = await outcome(client, ask(model_of(provider)))
    assert seen["aiohttp"] == seen["httpx"]
    assert seen["aiohttp"]["error"] == ("LLMUpstreamError", "upstream_error", True)


async def _read_until_error(wire: FakeWire, provider: Provider, http_client: HttpClientKind) -> str:
    """The provider's stream read without the attempt's clock, so that the SDK's own read
    timeout (the backstop behind the clock) is what ends it: the error's type and detail."""
    timeouts = SdkTimeouts(connect_s=2, read_s=SDK_READ_S, other_s=5)
    sdk = build_provider(
        provider,
        api_key="k",
        base_url=wire.url if provider == "anthropic" else f"{wire.url}/v1",
        max_retries=0,
        timeouts=timeouts,
        http_client=http_client,
    )
    stream = await sdk.open_stream(ask(model_of(provider)), model_of(provider), timeouts)
    try:
        while True:
            await stream.next_part()
    except LLMError as error:
        return f"{type(error).__name__} {error.detail}"
    finally:
        await stream.close()
        await sdk.aclose()


@pytest.mark.parametrize("provider", sorted(BODIES))
async def test_the_sdks_read_timeout_is_the_same_llm_timeout_as_on_httpx2(
    wire: FakeWire, provider: Provider
) -> None:
    body, _ = BODIES[provider]
    wire.body = body[: len(body) // 2]
    wire.split_every, wire.gzip, wire.cut, wire.stall = None, False, True, True
    seen = {
        client: await _read_until_error(wire, provider, client) for client in ("aiohttp", "httpx")
    }
    assert seen == {"aiohttp": "LLMTimeout ReadTimeout", "httpx": "LLMTimeout ReadTimeout"}
