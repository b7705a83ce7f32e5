"""The OpenAI Chat Completions API (``POST /v1/chat/completions``) as the simulator speaks it.

Shapes follow https://platform.openai.com/docs/api-reference/chat: a streamed
answer is ``data:`` lines of ``chat.completion.chunk`` (the role first, one
content delta per token, then the finish reason), a usage chunk with no choices
when ``stream_options.include_usage`` is set, and ``data: [DONE]``. Tool calls
stream in ``delta.tool_calls``: a call's first delta carries its index, id and
function name with empty arguments, the following ones argument fragments under
the same index; results come back as ``role: "tool"`` messages. Structured
output is ``response_format`` ``json_schema`` (or a forced function).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pacer_llm_sim.answers import Answer, Asked, Ending, Script, StructuredAsk, ToolCall, ToolResult
from pacer_llm_sim.exceptions import InvalidRequestError, json_object
from pacer_llm_sim.replies import escaped_template, sse, texts_of, wire_json

ENDPOINT = "/v1/chat/completions"
_FINGERPRINT = "fp_pacer_sim"

# The ways an answer ends, in the Chat Completions API's words.
_FINISH_REASONS: dict[Ending, str] = {
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "done": "stop",
}
# (type, code) per status, as the real API reports them.
_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_denied", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ERROR_MESSAGES = {
    429: "Rate limit reached for requests (simulated)",
    500: "The server had an error while processing your request (simulated)",
    503: "The engine is currently overloaded, please try again later (simulated)",
    529: "The engine is currently overloaded, please try again later (simulated)",
}


@dataclass(frozen=True, kw_only=True)
class OpenAIReply(Asked):
    include_usage: bool
    completion_id: str
    created: int

    def new_call_id(self) -> str:
        return f"call_sim{uuid.uuid4().hex[:24]}"

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": _FINGERPRINT,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None  # the real API marks every chunk but the last this way
        chunk.update(extra)
        return sse(chunk)

    def _usage(self, output_tokens: int) -> dict[str, int]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": self.input_tokens + output_tokens,
        }

    def script(self, answer: Answer) -> Script:
        steps: list[bytes]
        if answer.calls:
            delta = {"role": "assistant", "content": None, "refusal": None}
            head = self._chunk(
                [_choice(delta={**delta, "tool_calls": [_opening(0, answer.calls[0])]})]
            )
            steps = self._call_steps(answer.calls)
        else:
            delta = {"role": "assistant", "content": "", "refusal": None}
            head = self._chunk([_choice(delta=delta)])
            # One encoding of the chunk around a token per reply (its id and time are its own).
            token = escaped_template(lambda text: self._chunk([_choice(delta={"content": text})]))
            steps = [token(text) for text in answer.tokens]
        parts = [self._chunk([_choice(delta={}, finish_reason=_FINISH_REASONS[answer.ending])])]
        if self.include_usage:
            parts.append(self._chunk([], usage=self._usage(answer.steps)))
        parts.append(b"data: [DONE]\n\n")
        return Script(head, tuple(steps), b"".join(parts))

    def _call_steps(self, calls: tuple[ToolCall, ...]) -> list[bytes]:
        """Each argument fragment as a delta of its call's index; a call after the
        first is opened (id, name, empty arguments) in its first step."""
        steps = []
        for index, call in enumerate(calls):
            for number, fragment in enumerate(call.fragments):
                opening = b""
                if index and not number:
                    opening = self._chunk([_choice(delta={"tool_calls": [_opening(index, call)]})])
                more = {"index": index, "function": {"arguments": fragment}}
                steps.append(opening + self._chunk([_choice(delta={"tool_calls": [more]})]))
        return steps

    def body(self, answer: Answer) -> bytes:
        message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
        if answer.calls:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json},
                }
                for call in answer.calls
            ]
        completion = {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": _FINGERPRINT,
            "choices": [_choice(message=message, finish_reason=_FINISH_REASONS[answer.ending])],
            "usage": self._usage(answer.steps),
        }
        return wire_json(completion)


def _opening(index: int, call: ToolCall) -> dict[str, Any]:
    function = {"name": call.name, "arguments": ""}
    return {"index": index, "id": call.id, "type": "function", "function": function}


def _choice(finish_reason: str | None = None, **content: Any) -> dict[str, Any]:
    return {"index": 0, **content, "logprobs": None, "finish_reason": finish_reason}


class OpenAIDialect:
    endpoint = ENDPOINT
    request_id_header = "x-request-id"

    def parse(self, body: object) -> OpenAIReply:
        body = json_object(body)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequestError("you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequestError(
                "Missing required parameter: 'messages' (a non-empty array).", param="messages"
            )
        parts: list[tuple[str, str]] = []
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise InvalidRequestError(
                    f"Invalid 'messages[{index}]': expected an object with a 'role'.",
                    param=f"messages.[{index}]",
                )
            parts.extend((message["role"], text) for text in _texts(message.get("content"), index))
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise InvalidRequestError(
                "Invalid type for 'stream': expected a boolean.", param="stream"
            )
        options = body.get("stream_options") or {}
        if not isinstance(options, dict):
            raise InvalidRequestError(
                "Invalid type for 'stream_options': expected an object.", param="stream_options"
            )
        functions = _functions(body.get("tools"))
        forced = _tool_choice(body.get("tool_choice"), functions)
        structured = _response_format(body.get("response_format"))
        if forced is not None:
            structured = StructuredAsk.of(functions[forced], tool=forced)
        offers_tools = bool(functions) and body.get("tool_choice") != "none"
        return OpenAIReply.read(
            model,
            parts,
            tools=functions,
            offers_tools=offers_tools,
            stream=stream,
            max_tokens=_max_tokens(body),
            structured=structured,
            tool_results=_tool_results(messages),
            include_usage=stream and options.get("include_usage") is True,
            completion_id=f"chatcmpl-sim{uuid.uuid4().hex[:24]}",
            created=int(time.time()),
        )

    def error_body(
        self, status: int, message: str | None = None, param: str | None = None
    ) -> bytes:
        kind, code = _ERROR_KINDS.get(status) or (
            ("server_error", None) if status >= 500 else ("invalid_request_error", None)
        )
        text = message or _ERROR_MESSAGES.get(status) or f"Simulated {kind} ({status})"
        return wire_json({"error": {"message": text, "type": kind, "param": param, "code": code}})


# A function offered without parameters takes none.
_NO_PARAMETERS: Mapping[str, Any] = {"type": "object", "properties": {}}


def _functions(raw: object) -> dict[str, Mapping[str, Any]]:
    """Each offered function's parameters schema by name."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise InvalidRequestError("Invalid type for 'tools': expected an array.", param="tools")
    functions: dict[str, Mapping[str, Any]] = {}
    for index, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
        ):
            raise InvalidRequestError(
                f"Invalid 'tools[{index}]': expected a function with a name.",
                param=f"tools.[{index}]",
            )
        parameters = function.get("parameters", _NO_PARAMETERS)
        if not isinstance(parameters, dict):
            raise InvalidRequestError(
                f"Invalid type for 'tools[{index}].function.parameters': expected an object.",
                param=f"tools.[{index}].function.parameters",
            )
        functions[function["name"]] = parameters
    return functions


def _tool_choice(raw: object, functions: Mapping[str, object]) -> str | None:
    """The function the caller forces, if it forces one."""
    if raw is None or raw in ("none", "auto", "required"):
        return None
    function = raw.get("function") if isinstance(raw, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(raw, dict) or raw.get("type") != "function" or not isinstance(name, str):
        raise InvalidRequestError(
            "Invalid 'tool_choice': expected 'none', 'auto', 'required' or a function.",
            param="tool_choice",
        )
    if name not in functions:
        raise InvalidRequestError(
            f"Invalid 'tool_choice': no function named {name!r} in 'tools'.",
            param="tool_choice",
        )
    return name


def _response_format(raw: object) -> StructuredAsk | None:
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return StructuredAsk.of({"type": "object"})
    spec = raw.get("json_schema") if isinstance(raw, dict) else None
    if (
        kind != "json_schema"
        or not isinstance(spec, dict)
        or not isinstance(spec.get("name"), str)
        or not isinstance(spec.get("schema", {}), dict)
    ):
        raise InvalidRequestError(
            "Invalid 'response_format': expected type 'text', 'json_object', or 'json_schema' "
            "with a json_schema object naming the schema.",
            param="response_format",
        )
    return StructuredAsk.of(spec.get("schema", {"type": "object"}))


def _tool_results(messages: list[Any]) -> tuple[ToolResult, ...]:
    """The role 'tool' messages after the last assistant message, each named by
    the call it answers."""
    names = {
        call.get("id"): call.get("function", {}).get("name")
        for message in messages
        if message.get("role") == "assistant" and isinstance(message.get("tool_calls"), list)
        for call in message["tool_calls"]
        if isinstance(call, dict) and isinstance(call.get("function"), dict)
    }
    results: list[ToolResult] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        call_id = message.get("tool_call_id")
        content = message.get("content")
        text = content if isinstance(content, str) else "".join(_texts(content, -1))
        results.append(ToolResult(str(names.get(call_id) or call_id), text))
    return tuple(reversed(results))


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    # max_completion_tokens replaced max_tokens; clients send one or the other.
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequestError(
                f"Invalid '{name}': expected an integer of at least 1.", param=name
            )
        return value
    return None


def _texts(content: object, index: int) -> list[str]:
    texts = texts_of(content)
    if texts is None:
        raise InvalidRequestError(
            f"Invalid type for 'messages[{index}].content': expected a string or an array.",
            param=f"messages.[{index}].content",
        )
    return texts


DIALECT = OpenAIDialect()
