"""Anthropic Messages API through the official SDK (``AsyncAnthropic``).

A streamed answer is ``message_start`` (input tokens), text ``content_block_delta``
events, ``message_delta`` (stop reason, output tokens) and ``message_stop``.
Errors: the SDK's ``APIStatusError`` family by status; an ``error`` event
mid-stream arrives as an ``APIStatusError`` carrying the HTTP 200 of the stream,
so it is classified by its error type instead; transport errors met while
reading a stream escape the SDK as raw ``httpx2`` errors.

The call around the SDK and the streams' common part are :mod:`._sdk`'s.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import anthropic
import httpx2
from anthropic import AsyncAPIResponse
from anthropic.types import (
    Message,
    MessageParam,
    RawMessageStreamEvent,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)

from pacer_common.llm.errors import LLMError, LLMOverloaded, LLMTimeout, LLMUpstreamError
from pacer_common.llm.providers._http import describe, from_status, from_transport, httpx_timeout
from pacer_common.llm.providers._sdk import RawEventStream, SdkErrors, SdkProvider, TypedEventStream
from pacer_common.llm.providers._tool_calls import ToolCallAssembler
from pacer_common.llm.providers.base import (
    TOOL_PROGRESS,
    ProviderReply,
    SdkTimeouts,
    ToolProgress,
    normalize_finish_reason,
)
from pacer_common.llm.registry import ModelSpec
from pacer_common.llm.types import LLMRequest, ToolCallTurn, ToolResultTurn, ToolSpec

# Error types of an `error` event inside a 200 stream that mean "back off".
_OVERLOADED_TYPES = frozenset({"overloaded_error", "rate_limit_error"})
_UNFINISHED = "stream ended before message_stop"
# The description of the forced tool that carries a structured answer.
_SCHEMA_TOOL = "Give your answer as this tool's input: one object that matches its schema."


def _stream_error(body: Any, model: ModelSpec, response: AsyncAPIResponse[Any]) -> LLMError:
    """An ``error`` event inside a 200 stream, classified by its error type as the SDK's is."""
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    detail = f"stream error event status=200 request_id={response.request_id} type={kind}"
    if kind in _OVERLOADED_TYPES:
        return LLMOverloaded(model=model, detail=detail)
    return LLMUpstreamError(model=model, detail=detail)


def translate(error: Exception, model: ModelSpec) -> LLMError:
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


_ERRORS = SdkErrors((anthropic.AnthropicError, httpx2.HTTPError), translate)


class AnthropicStream(TypedEventStream):
    sdk_errors = _ERRORS
    unfinished = _UNFINISHED

    def on_event(self, event: RawMessageStreamEvent) -> str | ToolProgress | None:
        if event.type == "message_start":
            self.input_tokens = event.message.usage.input_tokens
        elif event.type == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                self.tool_calls.open(event.index, block.id, block.name)
                self.tool_calls.add(event.index, _opening_input(block.input))
                return TOOL_PROGRESS
        elif event.type == "content_block_delta":
            if event.delta.type == "text_delta":
                return event.delta.text
            if event.delta.type == "input_json_delta":
                self.tool_calls.add(event.index, event.delta.partial_json)
                return TOOL_PROGRESS
        elif event.type == "message_delta":
            # Only message_delta's count: message_start's is a placeholder, not a total.
            self.output_tokens = event.usage.output_tokens
            if event.usage.input_tokens is not None:
                self.input_tokens = event.usage.input_tokens
            self.finish_reason = normalize_finish_reason(event.delta.stop_reason)
        elif event.type == "message_stop":
            self.ended = True
        return None


class AnthropicRawStream(RawEventStream):
    unfinished = _UNFINISHED

    def on_event(self, name: str, data: str) -> str | ToolProgress | None:
        if name == "content_block_delta":
            event = json.loads(data)
            delta = event["delta"]
            if delta.get("type") == "text_delta" and delta.get("text"):
                return str(delta["text"])
            if delta.get("type") == "input_json_delta":
                self.tool_calls.add(event["index"], str(delta.get("partial_json") or ""))
                return TOOL_PROGRESS
        elif name == "content_block_start":
            event = json.loads(data)
            block = event["content_block"]
            if block.get("type") == "tool_use":
                self.tool_calls.open(event["index"], block.get("id"), block.get("name"))
                self.tool_calls.add(event["index"], _opening_input(block.get("input")))
                return TOOL_PROGRESS
        elif name == "message_start":
            self.input_tokens = json.loads(data)["message"]["usage"]["input_tokens"]
        elif name == "message_delta":
            self._message_delta(json.loads(data))
        elif name == "message_stop":
            self.ended = True
        elif name == "error":
            raise _stream_error(json.loads(data), self._model, self._response)
        return None

    def _message_delta(self, event: dict[str, Any]) -> None:
        usage = event.get("usage") or {}
        self.output_tokens = usage.get("output_tokens")
        if usage.get("input_tokens") is not None:
            self.input_tokens = usage["input_tokens"]
        self.finish_reason = normalize_finish_reason((event.get("delta") or {}).get("stop_reason"))


def _opening_input(value: object) -> str:
    """The input a tool_use block opens with: {} (the API's; the input follows in
    deltas), or a whole input from a server that sends no deltas, kept as such."""
    return json.dumps(value, ensure_ascii=False) if value else ""


class AnthropicProvider(SdkProvider[anthropic.AsyncAnthropic]):
    name = "anthropic"
    sdk_client = anthropic.AsyncAnthropic
    sdk_errors = _ERRORS
    raw_stream_class = AnthropicRawStream
    typed_stream_class = AnthropicStream

    def endpoint(self) -> Any:
        return self._client.messages

    def arguments(
        self, request: LLMRequest, model: ModelSpec, timeouts: SdkTimeouts, *, stream: bool
    ) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": model.model_id,
            "system": request.system or anthropic.omit,
            "messages": _messages(request),
            "max_tokens": request.max_tokens,
            "timeout": httpx_timeout(timeouts),
        }
        tools: list[ToolParam] = [_tool(tool) for tool in request.tools]
        if request.tools:
            arguments["tool_choice"] = {"type": request.tool_choice}
        schema = request.output_schema
        if schema is not None:
            # Anthropic's structured answer: a tool it must call, whose input is the answer.
            tools.append(
                {
                    "name": schema.name,
                    "description": _SCHEMA_TOOL,
                    "input_schema": dict(schema.schema),
                }
            )
            arguments["tool_choice"] = {"type": "tool", "name": schema.name}
        if tools:
            arguments["tools"] = tools
        return {**arguments, "stream": True} if stream else arguments

    def whole_reply(self, answer: Message, model: ModelSpec) -> ProviderReply:
        finish_reason = normalize_finish_reason(answer.stop_reason)
        assembler = ToolCallAssembler()
        for index, block in enumerate(answer.content):
            if block.type == "tool_use":
                assembler.open(index, block.id, block.name)
                assembler.add(index, json.dumps(block.input, ensure_ascii=False))
        return ProviderReply(
            text="".join(block.text for block in answer.content if block.type == "text"),
            input_tokens=answer.usage.input_tokens,
            output_tokens=answer.usage.output_tokens,
            finish_reason=finish_reason,
            tool_calls=tuple(assembler.finish(finish_reason)),
        )

    def structured_reply(self, answer: Message, reply: ProviderReply, name: str) -> ProviderReply:
        """The forced tool's input is the answer (see :meth:`arguments`), not a tool call.

        A whole answer cut off at max_tokens is refused even when its input parsed:
        the API hands back what it had of the input, an object that may well be {}.
        """
        call = next((call for call in reply.tool_calls if call.name == name), None)
        if call is None:
            return replace(
                reply, tool_calls=(), structured_error=f"no call of the forced tool {name}"
            )
        answered = replace(reply, text=call.arguments_text, tool_calls=())
        if reply.finish_reason == "length":
            return replace(answered, structured_error="the answer was cut off at max_tokens")
        return replace(answered, structured=call.arguments, structured_error=call.arguments_error)


def _tool(tool: ToolSpec) -> ToolParam:
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": dict(tool.input_schema),
    }


def _messages(request: LLMRequest) -> list[MessageParam]:
    messages: list[MessageParam] = []
    for message in request.messages:
        # Spelled out per role: the SDK's TypedDicts are told apart by their literal role.
        if isinstance(message, ToolCallTurn):
            messages.append({"role": "assistant", "content": _call_blocks(message)})
        elif isinstance(message, ToolResultTurn):
            messages.append({"role": "user", "content": _result_blocks(message)})
        elif message.role == "user":
            messages.append({"role": "user", "content": message.content})
        else:
            messages.append({"role": "assistant", "content": message.content})
    return messages


def _call_blocks(turn: ToolCallTurn) -> list[TextBlockParam | ToolUseBlockParam]:
    blocks: list[TextBlockParam | ToolUseBlockParam] = []
    if turn.text:
        blocks.append({"type": "text", "text": turn.text})
    for call in turn.calls:
        # Anthropic's input must be an object: a call whose arguments were not one
        # goes back as {}, its result (an error the caller wrote) says what was wrong.
        blocks.append(
            {
                "type": "tool_use",
                "id": call.call_id,
                "name": call.name,
                "input": call.arguments or {},
            }
        )
    return blocks


def _result_blocks(turn: ToolResultTurn) -> list[ToolResultBlockParam]:
    return [
        {
            "type": "tool_result",
            "tool_use_id": result.call_id,
            "content": result.content,
            "is_error": result.is_error,
        }
        for result in turn.results
    ]
