"""OpenAI Chat Completions through the official SDK (``AsyncOpenAI``).

A streamed answer is ``chat.completion.chunk`` events: content deltas, a chunk
carrying ``finish_reason``, then (asked for with ``include_usage``) a usage
chunk with no choices. The SDK wraps transport errors met mid-stream in
``APIConnectionError`` / ``APITimeoutError``; an ``error`` event mid-stream is a
bare ``APIError``. ``httpx2`` errors are caught too, in case a version stops wrapping.

With ``raw_stream`` (``LLM_RAW_STREAM``, the default) a stream is read from the
SDK's raw response by :class:`OpenAIRawStream`: the same chunks, decoded by
:mod:`._sse` and ``json.loads`` instead of typed objects, the same errors.
"""

from __future__ import annotations

import json
from typing import Any, Final

import httpx2
import openai
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from pacer_common.llm.errors import LLMError, LLMOverloaded, LLMTimeout, LLMUpstreamError
from pacer_common.llm.providers._http import describe, from_status, from_transport, httpx_timeout
from pacer_common.llm.providers._sse import SSEReader
from pacer_common.llm.providers.base import ProviderReply, SdkTimeouts, normalize_finish_reason
from pacer_common.llm.registry import ModelSpec, Provider
from pacer_common.llm.types import LLMRequest

# Codes/types of an in-stream error that mean "back off".
_OVERLOADED_KINDS = frozenset({"rate_limit_exceeded", "server_overloaded", "overloaded"})


class OpenAIProvider:
    name: Final[Provider] = "openai"

    def __init__(self, client: openai.AsyncOpenAI, *, raw_stream: bool = True) -> None:
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
    ) -> OpenAIProvider:
        return cls(
            openai.AsyncOpenAI(
                api_key=api_key,
                base_url=base_url,
                max_retries=max_retries,
                timeout=httpx_timeout(timeouts),
            ),
            raw_stream=raw_stream,
        )

    async def open_stream(
        self, request: LLMRequest, model: ModelSpec, timeouts: SdkTimeouts
    ) -> OpenAIStream | OpenAIRawStream:
        if self._raw_stream:
            try:
                # The SDK sends it (auth, base URL, retries, status errors); the body is ours to read.
                response = await self._client.chat.completions.with_streaming_response.create(
                    model=model.model_id,
                    messages=_messages(request),
                    max_completion_tokens=request.max_tokens,
                    stream=True,
                    stream_options={"include_usage": True},
                    timeout=httpx_timeout(timeouts),
                ).__aenter__()
            except (openai.OpenAIError, httpx2.HTTPError) as error:
                raise translate(error, model) from error
            return OpenAIRawStream(response, model)
        try:
            chunks = await self._client.chat.completions.create(
                model=model.model_id,
                messages=_messages(request),
                max_completion_tokens=request.max_tokens,
                stream=True,
                # Without it a streamed answer carries no token counts at all.
                stream_options={"include_usage": True},
                timeout=httpx_timeout(timeouts),
            )
        except (openai.OpenAIError, httpx2.HTTPError) as error:
            raise translate(error, model) from error
        return OpenAIStream(chunks, model)

    async def complete(
        self, request: LLMRequest, model: ModelSpec, timeouts: SdkTimeouts
    ) -> ProviderReply:
        try:
            completion = await self._client.chat.completions.create(
                model=model.model_id,
                messages=_messages(request),
                max_completion_tokens=request.max_tokens,
                timeout=httpx_timeout(timeouts),
            )
        except (openai.OpenAIError, httpx2.HTTPError) as error:
            raise translate(error, model) from error
        if not completion.choices:
            raise LLMUpstreamError(model=model, detail="completion without choices")
        choice = completion.choices[0]
        usage = completion.usage
        return ProviderReply(
            text=choice.message.content or "",
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            finish_reason=normalize_finish_reason(choice.finish_reason),
        )

    async def aclose(self) -> None:
        await self._client.close()


class OpenAIStream:
    def __init__(self, chunks: openai.AsyncStream[ChatCompletionChunk], model: ModelSpec) -> None:
        self._chunks = chunks
        self._model = model
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.finish_reason: str | None = None

    async def next_text(self) -> str | None:
        while True:
            try:
                # __anext__, not `async for`: see AnthropicStream.next_text.
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                if self.finish_reason is None:
                    raise LLMUpstreamError(
                        model=self._model, detail="stream ended without a finish reason"
                    ) from None
                return None
            except (openai.OpenAIError, httpx2.HTTPError) as error:
                raise translate(error, self._model) from error
            if chunk.usage is not None:
                self.input_tokens = chunk.usage.prompt_tokens
                self.output_tokens = chunk.usage.completion_tokens
            text = ""
            for choice in chunk.choices[:1]:  # we never ask for n > 1
                text = choice.delta.content or ""
                if choice.finish_reason is not None:
                    self.finish_reason = normalize_finish_reason(choice.finish_reason)
            if text:
                return text

    async def close(self) -> None:
        await self._chunks.close()


class OpenAIRawStream:
    """The same stream read from the SDK's raw response: SSE bytes and ``json.loads``,
    no typed chunk objects. The SDK still sent the request (auth, retries, status errors)."""

    def __init__(self, response: openai.AsyncAPIResponse[Any], model: ModelSpec) -> None:
        self._response = response
        self._events = SSEReader(response.http_response.aiter_bytes())
        self._model = model
        self._finished = False
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.finish_reason: str | None = None

    async def next_text(self) -> str | None:
        while True:
            try:
                item = None if self._finished else await self._events.next()
            except httpx2.HTTPError as error:
                raise from_transport(error, self._model, describe(error)) from error
            if item is None or item[1].startswith("[DONE]"):
                self._finished = True
                if self.finish_reason is None:
                    raise LLMUpstreamError(
                        model=self._model, detail="stream ended without a finish reason"
                    )
                return None
            try:
                chunk = json.loads(item[1])
                if chunk.get("error"):
                    raise _stream_error(chunk["error"], self._model)
                usage = chunk.get("usage")
                if usage is not None:
                    self.input_tokens = usage.get("prompt_tokens")
                    self.output_tokens = usage.get("completion_tokens")
                text = ""
                for choice in (chunk.get("choices") or [])[:1]:  # we never ask for n > 1
                    text = (choice.get("delta") or {}).get("content") or ""
                    if choice.get("finish_reason") is not None:
                        self.finish_reason = normalize_finish_reason(choice["finish_reason"])
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise LLMUpstreamError(
                    model=self._model, detail=f"malformed chunk: {type(error).__name__}"
                ) from error
            if text:
                return str(text)

    async def close(self) -> None:
        await self._response.close()


def _stream_error(error: Any, model: ModelSpec) -> LLMError:
    """An ``error`` object inside a 200 stream, classified by its code or type as the SDK's is."""
    fields = error if isinstance(error, dict) else {}
    code, kind = fields.get("code"), fields.get("type")
    detail = f"stream error event code={code}"
    if code in _OVERLOADED_KINDS or kind in _OVERLOADED_KINDS:
        return LLMOverloaded(model=model, detail=detail)
    return LLMUpstreamError(model=model, detail=detail)


def translate(error: openai.OpenAIError | httpx2.HTTPError, model: ModelSpec) -> LLMError:
    if isinstance(error, httpx2.HTTPError):
        return from_transport(error, model, describe(error))
    if isinstance(error, openai.APIStatusError):
        return from_status(
            error.status_code, model, describe(error, error.status_code, error.request_id)
        )
    if isinstance(error, openai.APITimeoutError):
        return LLMTimeout(model=model, detail=describe(error))
    if isinstance(error, openai.APIError) and (
        error.code in _OVERLOADED_KINDS or error.type in _OVERLOADED_KINDS
    ):
        # An `error` event inside a stream that had started with 200.
        return LLMOverloaded(model=model, detail=f"{describe(error)} code={error.code}")
    return LLMUpstreamError(model=model, detail=describe(error))


def _messages(request: LLMRequest) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    for message in request.messages:
        if message.role == "user":
            messages.append({"role": "user", "content": message.content})
        else:
            messages.append({"role": "assistant", "content": message.content})
    return messages
