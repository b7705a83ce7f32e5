"""Anthropic Messages API through the official SDK (``AsyncAnthropic``).

A streamed answer is ``message_start`` (input tokens), text ``content_block_delta``
events, ``message_delta`` (stop reason, output tokens) and ``message_stop``.
Errors: the SDK's ``APIStatusError`` family by status; an ``error`` event
mid-stream arrives as an ``APIStatusError`` carrying the HTTP 200 of the stream,
so it is classified by its error type instead; transport errors met while
reading a stream escape the SDK as raw ``httpx2`` errors.

With ``raw_stream`` (``LLM_RAW_STREAM``, the default) a stream is read from the
SDK's raw response by :class:`AnthropicRawStream`: the same events, decoded by
:mod:`._sse` and ``json.loads`` instead of typed objects, the same errors.
"""

from __future__ import annotations

import json
from typing import Any, Final

import anthropic
import httpx2
from anthropic import AsyncAPIResponse
from anthropic.types import MessageParam, RawMessageStreamEvent

from pacer_common.llm.errors import LLMError, LLMOverloaded, LLMTimeout, LLMUpstreamError
from pacer_common.llm.providers._http import describe, from_status, from_transport, httpx_timeout
from pacer_common.llm.providers._sse import SSEReader
from pacer_common.llm.providers.base import (
    ProviderReply,
    SdkTimeouts,
    normalize_finish_reason,
)
from pacer_common.llm.registry import ModelSpec, Provider
from pacer_common.llm.types import LLMRequest

# Error types of an `error` event inside a 200 stream that mean "back off".
_OVERLOADED_TYPES = frozenset({"overloaded_error", "rate_limit_error"})


class AnthropicProvider:
    name: Final[Provider] = "anthropic"

    def __init__(self, client: anthropic.AsyncAnthropic, *, raw_stream: bool = True) -> None:
        self._client = client
        self._raw_stream = raw_stream

    @classmethod
    def create(
        cls,
        *,
        api_key: str,
        base_url: str | None,
        max_retries: int,
        timeouts: SdkTimeouts,
        raw_stream: bool = True,
    ) -> AnthropicProvider:
        return cls(
            anthropic.AsyncAnthropic(
                api_key=api_key,
                base_url=base_url,
                max_retries=max_retries,
                timeout=httpx_timeout(timeouts),
            ),
            raw_stream=raw_stream,
        )

    async def open_stream(
        self, request: LLMRequest, model: ModelSpec, timeouts: SdkTimeouts
    ) -> AnthropicStream | AnthropicRawStream:
        if self._raw_stream:
            try:
                # The SDK sends it (auth, base URL, retries, status errors); the body is ours to read.
                response = await self._client.messages.with_streaming_response.create(
                    model=model.model_id,
                    system=request.system or anthropic.omit,
                    messages=_messages(request),
                    max_tokens=request.max_tokens,
                    stream=True,
                    timeout=httpx_timeout(timeouts),
                ).__aenter__()
            except (anthropic.AnthropicError, httpx2.HTTPError) as error:
                raise translate(error, model) from error
            return AnthropicRawStream(response, model)
        try:
            events = await self._client.messages.create(
                model=model.model_id,
                system=request.system or anthropic.omit,
                messages=_messages(request),
                max_tokens=request.max_tokens,
                stream=True,
                timeout=httpx_timeout(timeouts),
            )
        except (anthropic.AnthropicError, httpx2.HTTPError) as error:
            raise translate(error, model) from error
        return AnthropicStream(events, model)

    async def complete(
        self, request: LLMRequest, model: ModelSpec, timeouts: SdkTimeouts
    ) -> ProviderReply:
        try:
            message = await self._client.messages.create(
                model=model.model_id,
                system=request.system or anthropic.omit,
                messages=_messages(request),
                max_tokens=request.max_tokens,
                timeout=httpx_timeout(timeouts),
            )
        except (anthropic.AnthropicError, httpx2.HTTPError) as error:
            raise translate(error, model) from error
        return ProviderReply(
            text="".join(block.text for block in message.content if block.type == "text"),
            input_tokens=message.usage.input_tokens,
            output_tokens=message.usage.output_tokens,
            finish_reason=normalize_finish_reason(message.stop_reason),
        )

    async def aclose(self) -> None:
        await self._client.close()


class AnthropicStream:
    def __init__(
        self, events: anthropic.AsyncStream[RawMessageStreamEvent], model: ModelSpec
    ) -> None:
        self._events = events
        self._model = model
        self._stopped = False
        self.input_tokens: int | None = None
        # Only message_delta's count: message_start's is a placeholder, not a total.
        self.output_tokens: int | None = None
        self.finish_reason: str | None = None

    async def next_text(self) -> str | None:
        while True:
            try:
                # __anext__, not `async for`: each `async for` over an SDK stream
                # makes a new wrapper generator that would be left unclosed.
                event = await anext(self._events)
            except StopAsyncIteration:
                if not self._stopped:
                    raise LLMUpstreamError(
                        model=self._model, detail="stream ended before message_stop"
                    ) from None
                return None
            except (anthropic.AnthropicError, httpx2.HTTPError) as error:
                raise translate(error, self._model) from error
            if event.type == "message_start":
                self.input_tokens = event.message.usage.input_tokens
            elif event.type == "content_block_delta":
                if event.delta.type == "text_delta" and event.delta.text:
                    return event.delta.text
            elif event.type == "message_delta":
                self.output_tokens = event.usage.output_tokens
                if event.usage.input_tokens is not None:
                    self.input_tokens = event.usage.input_tokens
                self.finish_reason = normalize_finish_reason(event.delta.stop_reason)
            elif event.type == "message_stop":
                self._stopped = True

    async def close(self) -> None:
        await self._events.close()


class AnthropicRawStream:
    """The same stream read from the SDK's raw response: SSE bytes and ``json.loads``,
    no typed event objects. The SDK still sent the request (auth, retries, status errors)."""

    def __init__(self, response: AsyncAPIResponse[Any], model: ModelSpec) -> None:
        self._response = response
        self._events = SSEReader(response.http_response.aiter_bytes())
        self._model = model
        self._stopped = False
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.finish_reason: str | None = None

    async def next_text(self) -> str | None:
        while True:
            try:
                item = await self._events.next()
            except httpx2.HTTPError as error:
                raise from_transport(error, self._model, describe(error)) from error
            if item is None:
                if not self._stopped:
                    raise LLMUpstreamError(
                        model=self._model, detail="stream ended before message_stop"
                    )
                return None
            name, data = item
            try:
                if name == "content_block_delta":
                    delta = json.loads(data)["delta"]
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        return str(delta["text"])
                elif name == "message_start":
                    self.input_tokens = json.loads(data)["message"]["usage"]["input_tokens"]
                elif name == "message_delta":
                    event = json.loads(data)
                    usage = event.get("usage") or {}
                    self.output_tokens = usage.get("output_tokens")
                    if usage.get("input_tokens") is not None:
                        self.input_tokens = usage["input_tokens"]
                    self.finish_reason = normalize_finish_reason(
                        (event.get("delta") or {}).get("stop_reason")
                    )
                elif name == "message_stop":
                    self._stopped = True
                elif name == "error":
                    raise _stream_error(json.loads(data), self._model, self._response)
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise LLMUpstreamError(
                    model=self._model, detail=f"malformed {name} event: {type(error).__name__}"
                ) from error

    async def close(self) -> None:
        await self._response.close()


def _stream_error(body: Any, model: ModelSpec, response: AsyncAPIResponse[Any]) -> LLMError:
    """An ``error`` event inside a 200 stream, classified by its error type as the SDK's is."""
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    detail = f"stream error event status=200 request_id={response.request_id} type={kind}"
    if kind in _OVERLOADED_TYPES:
        return LLMOverloaded(model=model, detail=detail)
    return LLMUpstreamError(model=model, detail=detail)


def translate(error: anthropic.AnthropicError | httpx2.HTTPError, model: ModelSpec) -> LLMError:
    if isinstance(error, httpx2.HTTPError):
        return from_transport(error, model, describe(error))
    if isinstance(error, anthropic.APIStatusError):
        detail = describe(error, error.status_code, error.request_id)
        if error.status_code < 400:
            # An `error` event inside a stream that had started with 200.
            if error.type in _OVERLOADED_TYPES:
                return LLMOverloaded(model=model, detail=f"{detail} type={error.type}")
            return LLMUpstreamError(model=model, detail=f"{detail} type={error.type}")
        return from_status(error.status_code, model, detail)
    if isinstance(error, anthropic.APITimeoutError):
        return LLMTimeout(model=model, detail=describe(error))
    return LLMUpstreamError(model=model, detail=describe(error))


def _messages(request: LLMRequest) -> list[MessageParam]:
    messages: list[MessageParam] = []
    for message in request.messages:
        # Spelled out per role: the SDK's TypedDicts are told apart by their literal role.
        if message.role == "user":
            messages.append({"role": "user", "content": message.content})
        else:
            messages.append({"role": "assistant", "content": message.content})
    return messages
