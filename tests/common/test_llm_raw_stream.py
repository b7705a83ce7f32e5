"""The raw stream path (``LLM_RAW_STREAM``, the default): the SDK's raw response read with
our SSE decoder and ``json.loads`` gives what the SDK's typed events give, in every
simulator mode and both dialects; and what only a fake wire can play (error events
mid-stream, malformed data, events split anywhere) is handled the same way."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from fixtures.llm_client import MODELS, SHORT_TIMEOUTS, LLMClients, model_of
from fixtures.llm_sim import LLMSim, sdk_settings
from pacer_common.llm import (
    ChatMessage,
    Deadline,
    LLMClient,
    LLMError,
    LLMOverloaded,
    LLMRequest,
    LLMUpstreamError,
    ModelSpec,
    StreamEnd,
    TextDelta,
)
from pacer_common.llm.clock import AttemptLimits
from pacer_common.llm.client import ClientConfig
from pacer_common.llm.providers.anthropic import AnthropicProvider
from pacer_common.llm.providers.openai import OpenAIProvider
from pacer_common.llm.registry import Provider

# Each simulator mode, with what it plays: a normal answer, one cut by max_tokens,
# a slow one, a stream dropped halfway, a refusal, a hang past the first-token deadline.
MODES: dict[str, tuple[dict[str, Any], int]] = {
    "normal": ({"mode": "normal", "tokens": 9}, 200),
    "length": ({"mode": "normal", "tokens": 9}, 4),
    "slow": ({"mode": "slow", "first_token_ms": 50, "token_ms": 20, "tokens": 5}, 200),
    "drop": ({"mode": "drop", "tokens": 8}, 200),
    "overloaded": ({"mode": "error", "status": 529}, 200),
    "server_error": ({"mode": "error", "status": 500}, 200),
    "bad_request": ({"mode": "error", "status": 400}, 200),
    "hang": ({"mode": "hang"}, 200),
    "idle_gap": ({"mode": "slow", "first_token_ms": 0, "token_ms": 900, "tokens": 3}, 200),
}
TIMEOUTS = {
    **SHORT_TIMEOUTS,
    "LLM_FIRST_TOKEN_TIMEOUT_SECONDS": 0.6,
    "LLM_IDLE_TIMEOUT_SECONDS": 0.6,
}


def ask(model: ModelSpec, max_tokens: int = 200) -> LLMRequest:
    return LLMRequest(
        system="You are a patient running coach.",
        messages=[ChatMessage("user", "How should I pace my long run?")],
        max_tokens=max_tokens,
        model=model,
    )


async def outcome(client: LLMClient, request: LLMRequest) -> dict[str, Any]:
    """What a caller can see of one call: the texts, then the end's counts or the error."""
    texts: list[str] = []
    try:
        async for event in client.stream(
            request, deadline=Deadline.after(10), user_id=None, purpose="test"
        ):
            if isinstance(event, TextDelta):
                texts.append(event.text)
            elif isinstance(event, StreamEnd):
                return {
                    "texts": texts,
                    "end": (event.input_tokens, event.output_tokens, event.finish_reason),
                }
    except LLMError as error:
        return {"texts": texts, "error": (type(error).__name__, error.code, error.retryable)}
    raise AssertionError("a stream without StreamEnd or an error")


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_raw_and_sdk_paths_see_the_same_in_every_mode(
    sim: LLMSim, llm_clients: LLMClients, provider: Provider, mode: str
) -> None:
    fields, max_tokens = MODES[mode]
    model = model_of(provider)
    seen = {}
    for raw in (True, False):
        await sim.set_mode(**fields)
        client = llm_clients(
            **sdk_settings(sim.base_url),
            LLM_FALLBACK_ORDER="",
            **TIMEOUTS,
            LLM_RAW_STREAM=raw,
        )
        seen[raw] = await outcome(client, ask(model, max_tokens))
        await sim.wait_for_stats(lambda stats: stats["active"] == 0)
    assert seen[True] == seen[False]
    if mode == "normal":
        assert len(seen[True]["texts"]) == 9 and seen[True]["end"][1:] == (9, "stop")
    if mode == "length":
        assert seen[True]["end"][1:] == (4, "length")


# -- a fake wire, for what the simulator does not play -----------------------

Handler = Callable[[httpx2.Request], httpx2.Response]


def _client(provider: Provider, handler: Handler) -> LLMClient:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    model = model_of(provider)
    sdk_provider: AnthropicProvider | OpenAIProvider
    if provider == "anthropic":
        sdk_provider = AnthropicProvider(
            anthropic.AsyncAnthropic(
                api_key="k", base_url="http://fake", max_retries=0, http_client=http
            )
        )
    else:
        sdk_provider = OpenAIProvider(
            openai.AsyncOpenAI(
                api_key="k", base_url="http://fake/v1", max_retries=0, http_client=http
            )
        )
    config = ClientConfig(
        free_model=model,
        paid_model=model,
        fallback_order=(),
        limits=AttemptLimits(first_token_s=2, idle_s=2, connect_s=2, sdk_s=5),
    )
    return LLMClient({provider: sdk_provider}, config)


def _sse(body: bytes, split_every: int | None = None) -> Handler:
    async def chunks() -> AsyncIterator[bytes]:
        step = split_every or len(body)
        for start in range(0, len(body), step):
            yield body[start : start + step]

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=chunks())

    return handler


def _anthropic_events(*events: tuple[str, str]) -> bytes:
    return b"".join(f"event: {name}\ndata: {data}\n\n".encode() for name, data in events)


ANTHROPIC_START = (
    "message_start",
    '{"type":"message_start","message":{"id":"m","usage":{"input_tokens":5,"output_tokens":1}}}',
)


def _anthropic_text(text: str) -> tuple[str, str]:
    return (
        "content_block_delta",
        json.dumps(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": text},
            }
        ),
    )


ANTHROPIC_END = (
    (
        "message_delta",
        '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}',
    ),
    ("message_stop", '{"type":"message_stop"}'),
)


@pytest.mark.parametrize("split_every", [None, 1, 7])
async def test_anthropic_events_split_anywhere_give_the_text_and_the_usage(
    split_every: int | None,
) -> None:
    body = _anthropic_events(
        ANTHROPIC_START,
        ("ping", '{"type":"ping"}'),
        _anthropic_text("Easy "),
        _anthropic_text("does it. \u00e9"),
        *ANTHROPIC_END,
    ).replace(b"\n", b"\r\n")
    client = _client("anthropic", _sse(body, split_every))
    seen = await outcome(client, ask(model_of("anthropic")))
    await client.aclose()
    assert seen == {"texts": ["Easy ", "does it. \u00e9"], "end": (5, 2, "stop")}


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [("overloaded_error", LLMOverloaded), ("api_error", LLMUpstreamError)],
)
async def test_anthropic_error_event_mid_stream_keeps_the_text_and_raises(
    error_type: str, expected: type[LLMError]
) -> None:
    body = _anthropic_events(
        ANTHROPIC_START,
        _anthropic_text("Half "),
        ("error", json.dumps({"type": "error", "error": {"type": error_type, "message": "x"}})),
    )
    client = _client("anthropic", _sse(body))
    seen = await outcome(client, ask(model_of("anthropic")))
    await client.aclose()
    assert seen["texts"] == ["Half "]
    assert seen["error"][0] == expected.__name__


async def test_anthropic_malformed_event_is_an_upstream_error_not_a_crash() -> None:
    body = _anthropic_events(ANTHROPIC_START, ("content_block_delta", "{not json"))
    client = _client("anthropic", _sse(body))
    seen = await outcome(client, ask(model_of("anthropic")))
    await client.aclose()
    assert seen == {"texts": [], "error": ("LLMUpstreamError", "upstream_error", True)}


def _openai_chunks(*chunks: str, done: bool = True) -> bytes:
    lines = [f"data: {chunk}\n\n" for chunk in chunks]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def _openai_text(text: str, finish: str | None = None) -> str:
    reason = "null" if finish is None else f'"{finish}"'
    return (
        '{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,'
        f'"delta":{{"content":"{text}"}},"finish_reason":{reason}}}]}}'
    )


OPENAI_USAGE = '{"id":"c","choices":[],"usage":{"prompt_tokens":6,"completion_tokens":2}}'


@pytest.mark.parametrize("split_every", [None, 1, 5])
async def test_openai_chunks_split_anywhere_give_the_text_and_the_usage(
    split_every: int | None,
) -> None:
    body = _openai_chunks(
        _openai_text("Easy "), _openai_text("does it."), _openai_text("", "stop"), OPENAI_USAGE
    )
    client = _client("openai", _sse(body, split_every))
    seen = await outcome(client, ask(model_of("openai")))
    await client.aclose()
    assert seen == {"texts": ["Easy ", "does it."], "end": (6, 2, "stop")}


@pytest.mark.parametrize(
    ("code", "expected"),
    [("rate_limit_exceeded", LLMOverloaded), ("server_error", LLMUpstreamError)],
)
async def test_openai_error_mid_stream_keeps_the_text_and_raises(
    code: str, expected: type[LLMError]
) -> None:
    body = _openai_chunks(
        _openai_text("Half "), json.dumps({"error": {"message": "x", "type": "x", "code": code}})
    )
    client = _client("openai", _sse(body))
    seen = await outcome(client, ask(model_of("openai")))
    await client.aclose()
    assert seen["texts"] == ["Half "]
    assert seen["error"][0] == expected.__name__


async def test_openai_stream_cut_before_its_finish_reason_is_a_dropped_stream() -> None:
    body = _openai_chunks(_openai_text("Half "), done=False)
    client = _client("openai", _sse(body))
    seen = await outcome(client, ask(model_of("openai")))
    await client.aclose()
    assert seen == {"texts": ["Half "], "error": ("LLMUpstreamError", "upstream_error", True)}
