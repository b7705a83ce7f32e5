"""OpenAI Chat Completions through the official SDK (``AsyncOpenAI``).

A streamed answer is ``chat.completion.chunk`` events: content deltas, a chunk
carrying ``finish_reason``, then (asked for with ``include_usage``) a usage
chunk with no choices. The SDK wraps transport errors met mid-stream in
``APIConnectionError`` / ``APITimeoutError``; an ``error`` event mid-stream is a
bare ``APIError``. ``httpx2`` errors are caught too, in case a version stops wrapping.

What both providers share around their SDKs (the call, the raw and typed
streams) is :mod:`._sdk`'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import httpx2
import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionMessageToolCallParam,
    ChatCompletionToolParam,
)

from pacer_common.llm.errors import LLMError, LLMOverloaded, LLMTimeout, LLMUpstreamError
from pacer_common.llm.providers._http import describe, from_status, from_transport, httpx_timeout
from pacer_common.llm.providers._sdk import RawEventStream, SdkErrors, SdkProvider, TypedEventStream
from pacer_common.llm.providers._tool_calls import ToolCallAssembler, parse_arguments
from pacer_common.llm.providers.base import (
    TOOL_PROGRESS,
    ProviderReply,
    SdkTimeouts,
    ToolProgress,
    normalize_finish_reason,
)
from pacer_common.llm.registry import ModelSpec
from pacer_common.llm.types import LLMRequest, ToolCall, ToolCallTurn, ToolResultTurn, ToolSpec

# Codes/types of an in-stream error that mean "back off".
_OVERLOADED_KINDS = frozenset({"rate_limit_exceeded", "server_overloaded", "overloaded"})
_UNFINISHED = "stream ended without a finish reason"


def _stream_error(error: Any, model: ModelSpec) -> LLMError:
    """An ``error`` object inside a 200 stream, classified by its code or type as the SDK's is."""
    fields = error if isinstance(error, dict) else {}
    code, kind = fields.get("code"), fields.get("type")
    detail = f"stream error event code={code}"
    if code in _OVERLOADED_KINDS or kind in _OVERLOADED_KINDS:
        return LLMOverloaded(model=model, detail=detail)
    return LLMUpstreamError(model=model, detail=detail)


def translate(error: Exception, model: ModelSpec) -> LLMError:
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


_ERRORS = SdkErrors((openai.OpenAIError, httpx2.HTTPError), translate)


class OpenAIStream(TypedEventStream):
    sdk_errors = _ERRORS
    unfinished = _UNFINISHED

    def on_event(self, event: ChatCompletionChunk) -> str | ToolProgress | None:
        if event.usage is not None:
            self.input_tokens = event.usage.prompt_tokens
            self.output_tokens = event.usage.completion_tokens
        part: str | ToolProgress | None = None
        for choice in event.choices[:1]:  # we never ask for n > 1
            part = choice.delta.content or None
            for call in choice.delta.tool_calls or ():
                function = call.function
                name = function.name if function is not None else None
                self.tool_calls.open(call.index, call.id, name)
                self.tool_calls.add(call.index, (function.arguments if function else None) or "")
                part = part or TOOL_PROGRESS
            if choice.finish_reason is not None:
                self.finish_reason = normalize_finish_reason(choice.finish_reason)
                self.ended = True
        return part


class OpenAIRawStream(RawEventStream):
    unfinished = _UNFINISHED

    def is_done_marker(self, data: str) -> bool:
        return data.startswith("[DONE]")

    def what(self, name: str) -> str:
        return "chunk"

    def on_event(self, name: str, data: str) -> str | ToolProgress | None:
        chunk = json.loads(data)
        if chunk.get("error"):
            raise _stream_error(chunk["error"], self._model)
        usage = chunk.get("usage")
        if usage is not None:
            self.input_tokens = usage.get("prompt_tokens")
            self.output_tokens = usage.get("completion_tokens")
        part: str | ToolProgress | None = None
        for choice in (chunk.get("choices") or [])[:1]:  # we never ask for n > 1
            delta = choice.get("delta") or {}
            part = str(delta.get("content") or "") or None
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                self.tool_calls.open(call.get("index"), call.get("id"), function.get("name"))
                self.tool_calls.add(call.get("index"), str(function.get("arguments") or ""))
                part = part or TOOL_PROGRESS
            if choice.get("finish_reason") is not None:
                self.finish_reason = normalize_finish_reason(choice["finish_reason"])
                self.ended = True
        return part


class OpenAIProvider(SdkProvider[openai.AsyncOpenAI]):
    name = "openai"
    sdk_client = openai.AsyncOpenAI
    sdk_errors = _ERRORS
    raw_stream_class = OpenAIRawStream
    typed_stream_class = OpenAIStream

    def endpoint(self) -> Any:
        return self._client.chat.completions

    def arguments(
        self, request: LLMRequest, model: ModelSpec, timeouts: SdkTimeouts, *, stream: bool
    ) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": model.model_id,
            "messages": _messages(request),
            "max_completion_tokens": request.max_tokens,
            "timeout": httpx_timeout(timeouts),
        }
        if request.tools:
            arguments["tools"] = [_function(tool) for tool in request.tools]
            arguments["tool_choice"] = request.tool_choice
        if request.output_schema is not None:
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.output_schema.name,
                    "schema": strict_schema(request.output_schema.schema),
                    "strict": True,
                },
            }
        if not stream:
            return arguments
        # Without include_usage a streamed answer carries no token counts at all.
        return {**arguments, "stream": True, "stream_options": {"include_usage": True}}

    def whole_reply(self, answer: ChatCompletion, model: ModelSpec) -> ProviderReply:
        if not answer.choices:
            raise LLMUpstreamError(model=model, detail="completion without choices")
        choice = answer.choices[0]
        usage = answer.usage
        finish_reason = normalize_finish_reason(choice.finish_reason)
        return ProviderReply(
            text=choice.message.content or "",
            input_tokens=usage.prompt_tokens if usage else None,
            output_tokens=usage.completion_tokens if usage else None,
            finish_reason=finish_reason,
            tool_calls=_whole_calls(choice.message.tool_calls or (), finish_reason),
        )

    def structured_reply(
        self, answer: ChatCompletion, reply: ProviderReply, name: str
    ) -> ProviderReply:
        """The text is the answer (``response_format``, see :meth:`arguments`), unless refused."""
        if answer.choices[0].message.refusal:
            return replace(reply, structured_error="the model refused to answer")
        cut = reply.finish_reason == "length"
        structured, error = parse_arguments(reply.text, cut=cut, what="the structured answer")
        return replace(reply, structured=structured, structured_error=error)


def _function(tool: ToolSpec) -> ChatCompletionToolParam:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": dict(tool.input_schema),
        },
    }


def _whole_calls(calls: Iterable[Any], finish_reason: str) -> tuple[ToolCall, ...]:
    """A whole answer's function calls, their arguments parsed as a stream's are."""
    assembler = ToolCallAssembler()
    for index, call in enumerate(calls):
        if call.type == "function":
            assembler.open(index, call.id, call.function.name)
            assembler.add(index, call.function.arguments)
    return tuple(assembler.finish(finish_reason))


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` as OpenAI's strict mode takes it: every object closed, every
    property required (an optional one stays nullable through its own anyOf),
    no defaults. The caller's validation still applies the original schema.

    >>> strict_schema({"type": "object", "properties": {"a": {"type": "integer", "default": 1}}})
    {'type': 'object', 'properties': {'a': {'type': 'integer'}}, 'required': ['a'], 'additionalProperties': False}
    """
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "default":
            continue
        if isinstance(value, Mapping):
            result[key] = (
                {name: strict_schema(sub) for name, sub in value.items()}
                if key in ("properties", "$defs", "definitions")
                else strict_schema(value)
            )
        elif isinstance(value, list):
            result[key] = [
                strict_schema(item) if isinstance(item, Mapping) else item for item in value
            ]
        else:
            result[key] = value
    if result.get("type") == "object" or "properties" in result:
        result["required"] = list(result.get("properties", {}))
        result["additionalProperties"] = False
    return result


def _messages(request: LLMRequest) -> list[ChatCompletionMessageParam]:
    messages: list[ChatCompletionMessageParam] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    for message in request.messages:
        if isinstance(message, ToolCallTurn):
            messages.append(_call_message(message))
        elif isinstance(message, ToolResultTurn):
            # OpenAI has no error flag on a tool message: the content says it.
            messages.extend(
                {"role": "tool", "tool_call_id": result.call_id, "content": result.content}
                for result in message.results
            )
        elif message.role == "user":
            messages.append({"role": "user", "content": message.content})
        else:
            messages.append({"role": "assistant", "content": message.content})
    return messages


def _call_message(turn: ToolCallTurn) -> ChatCompletionAssistantMessageParam:
    calls: list[ChatCompletionMessageToolCallParam] = [
        {
            "id": call.call_id,
            "type": "function",
            # The model's own JSON when it was an object; else {} (its result says what was wrong).
            "function": {
                "name": call.name,
                "arguments": call.arguments_text if call.arguments is not None else "{}",
            },
        }
        for call in turn.calls
    ]
    return {"role": "assistant", "content": turn.text or None, "tool_calls": calls}
