"""The Anthropic Messages API (``POST /v1/messages``) as the simulator speaks it.

Shapes follow https://docs.anthropic.com/en/api/messages and .../errors: a
streamed answer is ``message_start``, ``content_block_start``, ``ping``, one
``content_block_delta`` per token, ``content_block_stop``, ``message_delta``
(stop reason and output tokens), ``message_stop``. Tool calls are ``tool_use``
blocks, each opened by ``content_block_start`` with an empty input and filled by
``input_json_delta`` fragments; tool results come back as ``tool_result`` blocks
in the next user message. A forced tool (``tool_choice: {"type": "tool"}``) is
how Anthropic gives structured output: its ``input_schema`` is the schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pacer_llm_sim.answers import Answer, Asked, Ending, Script, StructuredAsk, ToolCall, ToolResult
from pacer_llm_sim.exceptions import InvalidRequestError, json_object
from pacer_llm_sim.replies import escaped_template, sse, texts_of, wire_json

ENDPOINT = "/v1/messages"

_T = TypeVar("_T")

# The ways an answer ends, in the Messages API's words.
_STOP_REASONS: dict[Ending, str] = {
    "max_tokens": "max_tokens",
    "tool_calls": "tool_use",
    "done": "end_turn",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_ERROR_MESSAGES = {
    429: "Number of request tokens has exceeded your per-minute rate limit (simulated)",
    500: "Internal server error (simulated)",
    503: "Service unavailable (simulated)",
    529: "Overloaded (simulated)",
}


def _event(name: str, data: Mapping[str, Any]) -> bytes:
    return sse(data, event=name)


# A text token's event, pre-encoded but for the token's own JSON string.
_TEXT_DELTA = escaped_template(
    lambda text: _event(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
    )
)


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }


@dataclass(frozen=True, kw_only=True)
class AnthropicReply(Asked):
    message_id: str

    def new_call_id(self) -> str:
        return f"toolu_sim{uuid.uuid4().hex[:24]}"

    def _message(
        self, content: list[dict[str, Any]], stop: str | None, output: int
    ) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": _usage(self.input_tokens, output),
        }

    def script(self, answer: Answer) -> Script:
        start = _event(
            "message_start", {"type": "message_start", "message": self._message([], None, 1)}
        )
        ping = _event("ping", {"type": "ping"})
        if answer.calls:
            head = start + _block_start(0, _tool_block(answer.calls[0])) + ping
            steps = tuple(_call_steps(answer.calls))
        else:
            head = start + _block_start(0, {"type": "text", "text": ""}) + ping
            steps = tuple(_TEXT_DELTA(token) for token in answer.tokens)
        last = max(len(answer.calls) - 1, 0)
        tail = b"".join(
            (
                _event("content_block_stop", {"type": "content_block_stop", "index": last}),
                _event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {
                            "stop_reason": _STOP_REASONS[answer.ending],
                            "stop_sequence": None,
                        },
                        "usage": {"output_tokens": answer.steps},
                    },
                ),
                _event("message_stop", {"type": "message_stop"}),
            )
        )
        return Script(head, steps, tail)

    def body(self, answer: Answer) -> bytes:
        content: list[dict[str, Any]]
        if answer.calls:
            content = [{**_tool_block(call), "input": call.arguments} for call in answer.calls]
        else:
            content = [{"type": "text", "text": answer.text}]
        return wire_json(self._message(content, _STOP_REASONS[answer.ending], answer.steps))


def _block_start(index: int, block: Mapping[str, Any]) -> bytes:
    return _event(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def _tool_block(call: ToolCall) -> dict[str, Any]:
    # Streamed, the input starts empty and arrives as input_json_delta fragments.
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}


def _call_steps(calls: tuple[ToolCall, ...]) -> list[bytes]:
    """Each argument fragment as an input_json_delta; a call after the first opens
    with the previous block's stop and its own start, in its first step."""
    steps = []
    for index, call in enumerate(calls):
        for number, fragment in enumerate(call.fragments):
            opening = b""
            if index and not number:
                stop = _event(
                    "content_block_stop", {"type": "content_block_stop", "index": index - 1}
                )
                opening = stop + _block_start(index, _tool_block(call))
            delta = {"type": "input_json_delta", "partial_json": fragment}
            event = {"type": "content_block_delta", "index": index, "delta": delta}
            steps.append(opening + _event("content_block_delta", event))
    return steps


class AnthropicDialect:
    endpoint = ENDPOINT
    request_id_header = "request-id"

    def parse(self, body: object) -> AnthropicReply:
        body = json_object(body)
        model = _require(body, "model", str)
        if not model:
            raise InvalidRequestError("model: String should have at least 1 character")
        max_tokens = _require(body, "max_tokens", int)
        if isinstance(max_tokens, bool) or max_tokens < 1:
            raise InvalidRequestError("max_tokens: Input should be an integer of at least 1")
        messages = _require(body, "messages", list)
        if not messages:
            raise InvalidRequestError("messages: at least one message is required")
        parts = [("system", text) for text in _texts(body.get("system"), "system")]
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                raise InvalidRequestError(
                    f"messages.{index}: must be an object with role 'user' or 'assistant'"
                )
            content = message.get("content")
            if content is None:
                raise InvalidRequestError(f"messages.{index}.content: Field required")
            texts = _texts(content, f"messages.{index}.content")
            parts.extend((message["role"], text) for text in texts)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise InvalidRequestError("stream: Input should be a valid boolean")
        schemas = _tools(body.get("tools"))
        choice = _tool_choice(body.get("tool_choice"), schemas)
        offers_tools = bool(schemas) and choice.get("type") != "none"
        structured = None
        if choice.get("type") == "tool":
            structured = StructuredAsk.of(schemas[choice["name"]], tool=choice["name"])
        return AnthropicReply.read(
            model,
            parts,
            tools=schemas,
            offers_tools=offers_tools,
            stream=stream,
            max_tokens=max_tokens,
            structured=structured,
            tool_results=_tool_results(messages),
            message_id=f"msg_sim{uuid.uuid4().hex[:24]}",
        )

    def error_body(
        self, status: int, message: str | None = None, param: str | None = None
    ) -> bytes:
        kind = _ERROR_TYPES.get(status) or (
            "api_error" if status >= 500 else "invalid_request_error"
        )
        text = message or _ERROR_MESSAGES.get(status) or f"Simulated {kind} ({status})"
        return wire_json({"type": "error", "error": {"type": kind, "message": text}})


def _tools(raw: object) -> dict[str, Mapping[str, Any]]:
    """Each offered tool's input_schema by name (server tools have none: {})."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise InvalidRequestError("tools: Input should be a valid list")
    schemas: dict[str, Mapping[str, Any]] = {}
    for index, tool in enumerate(raw):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise InvalidRequestError(f"tools.{index}.name: Field required")
        schema = tool.get("input_schema", {})
        custom = tool.get("type") in (None, "custom")
        if custom and (not isinstance(schema, dict) or schema.get("type") != "object"):
            raise InvalidRequestError(
                f"tools.{index}.input_schema: Input should be an object schema ('type': 'object')"
            )
        schemas[tool["name"]] = schema
    return schemas


def _tool_choice(raw: object, tools: Mapping[str, object]) -> dict[str, Any]:
    if raw is None:
        return {"type": "auto"}
    if not isinstance(raw, dict) or raw.get("type") not in ("auto", "any", "tool", "none"):
        raise InvalidRequestError(
            "tool_choice: Input should be an object with type 'auto', 'any', 'tool' or 'none'"
        )
    if raw["type"] == "tool" and raw.get("name") not in tools:
        raise InvalidRequestError(f"tool_choice.name: no tool named {raw.get('name')!r} in tools")
    return raw


def _tool_results(messages: list[Any]) -> tuple[ToolResult, ...]:
    """The tool_result blocks of the last message, each named by the tool_use it answers."""
    last = messages[-1]
    if last.get("role") != "user" or not isinstance(last.get("content"), list):
        return ()
    names = {
        block.get("id"): block.get("name")
        for message in messages
        if message.get("role") == "assistant" and isinstance(message.get("content"), list)
        for block in message["content"]
        if isinstance(block, dict) and block.get("type") == "tool_use"
    }
    results = []
    for block in last["content"]:
        if not isinstance(block, dict) or block.get("type") != "tool_result":
            continue
        call_id = block.get("tool_use_id")
        name = names.get(call_id) or str(call_id)
        content = block.get("content", "")
        text = content if isinstance(content, str) else "".join(_texts(content, "tool_result"))
        results.append(ToolResult(str(name), text, is_error=block.get("is_error") is True))
    return tuple(results)


def _require(body: Mapping[str, Any], name: str, kind: type[_T]) -> _T:
    if name not in body:
        raise InvalidRequestError(f"{name}: Field required", param=name)
    value = body[name]
    if not isinstance(value, kind):
        raise InvalidRequestError(f"{name}: Input should be a valid {kind.__name__}", param=name)
    return value


def _texts(content: object, where: str) -> list[str]:
    texts = texts_of(content)
    if texts is None:
        raise InvalidRequestError(
            f"{where}: Input should be a valid string or list of content blocks"
        )
    return texts


DIALECT = AnthropicDialect()
