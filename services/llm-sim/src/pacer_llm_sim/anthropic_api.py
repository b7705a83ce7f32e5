"""The Anthropic Messages API (``POST /v1/messages``) as the simulator speaks it.

Shapes follow https://docs.anthropic.com/en/api/messages and .../errors: a
streamed answer is ``message_start``, ``content_block_start``, ``ping``, one
``content_block_delta`` per token, ``content_block_stop``, ``message_delta``
(stop reason and output tokens), ``message_stop``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pacer_llm_sim.exceptions import InvalidRequestError
from pacer_llm_sim.replies import count_words, prompt_key

ENDPOINT = "/v1/messages"

_T = TypeVar("_T")

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


def _json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _event(name: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {name}\ndata: {_json(data)}\n\n".encode()


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }


@dataclass(frozen=True)
class AnthropicReply:
    model: str
    stream: bool
    prompt_key: bytes
    max_tokens: int | None
    input_tokens: int
    message_id: str

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

    def head(self) -> bytes:
        return b"".join(
            (
                _event(
                    "message_start",
                    {"type": "message_start", "message": self._message([], None, 1)},
                ),
                _event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                ),
                _event("ping", {"type": "ping"}),
            )
        )

    def token(self, text: str) -> bytes:
        delta = {"type": "text_delta", "text": text}
        return _event(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        )

    def tail(self, output_tokens: int, truncated: bool) -> bytes:
        return b"".join(
            (
                _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
                _event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": _stop_reason(truncated), "stop_sequence": None},
                        "usage": {"output_tokens": output_tokens},
                    },
                ),
                _event("message_stop", {"type": "message_stop"}),
            )
        )

    def body(self, text: str, output_tokens: int, truncated: bool) -> bytes:
        content = [{"type": "text", "text": text}]
        return _json(self._message(content, _stop_reason(truncated), output_tokens)).encode()


def _stop_reason(truncated: bool) -> str:
    return "max_tokens" if truncated else "end_turn"


class AnthropicDialect:
    endpoint = ENDPOINT
    request_id_header = "request-id"

    def parse(self, body: object) -> AnthropicReply:
        if not isinstance(body, dict):
            raise InvalidRequestError("request body must be a JSON object")
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
        return AnthropicReply(
            model=model,
            stream=stream,
            prompt_key=prompt_key(model, parts),
            max_tokens=max_tokens,
            input_tokens=count_words(text for _, text in parts),
            message_id=f"msg_sim{uuid.uuid4().hex[:24]}",
        )

    def error_body(
        self, status: int, message: str | None = None, param: str | None = None
    ) -> bytes:
        kind = _ERROR_TYPES.get(status) or (
            "api_error" if status >= 500 else "invalid_request_error"
        )
        text = message or _ERROR_MESSAGES.get(status) or f"Simulated {kind} ({status})"
        return _json({"type": "error", "error": {"type": kind, "message": text}}).encode()


def _require(body: Mapping[str, Any], name: str, kind: type[_T]) -> _T:
    if name not in body:
        raise InvalidRequestError(f"{name}: Field required", param=name)
    value = body[name]
    if not isinstance(value, kind):
        raise InvalidRequestError(f"{name}: Input should be a valid {kind.__name__}", param=name)
    return value


def _texts(content: object, where: str) -> list[str]:
    """The text of a string or of a list of content blocks; other blocks carry no words."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            block["text"]
            for block in content
            if isinstance(block, dict)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
        ]
    raise InvalidRequestError(f"{where}: Input should be a valid string or list of content blocks")


DIALECT = AnthropicDialect()
