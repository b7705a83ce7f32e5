"""The OpenAI Chat Completions API (``POST /v1/chat/completions``) as the simulator speaks it.

Shapes follow https://platform.openai.com/docs/api-reference/chat: a streamed
answer is ``data:`` lines of ``chat.completion.chunk`` (the role first, one
content delta per token, then the finish reason), a usage chunk with no choices
when ``stream_options.include_usage`` is set, and ``data: [DONE]``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pacer_llm_sim.exceptions import InvalidRequestError
from pacer_llm_sim.replies import count_words, prompt_key

ENDPOINT = "/v1/chat/completions"
_FINGERPRINT = "fp_pacer_sim"

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


def _json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _data(payload: Mapping[str, Any]) -> bytes:
    return f"data: {_json(payload)}\n\n".encode()


@dataclass(frozen=True)
class OpenAIReply:
    model: str
    stream: bool
    prompt_key: bytes
    max_tokens: int | None
    input_tokens: int
    include_usage: bool
    completion_id: str
    created: int

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
        return _data(chunk)

    def _usage(self, output_tokens: int) -> dict[str, int]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": self.input_tokens + output_tokens,
        }

    def head(self) -> bytes:
        delta = {"role": "assistant", "content": "", "refusal": None}
        return self._chunk([_choice(delta=delta)])

    def token(self, text: str) -> bytes:
        return self._chunk([_choice(delta={"content": text})])

    def tail(self, output_tokens: int, truncated: bool) -> bytes:
        parts = [self._chunk([_choice(delta={}, finish_reason=_finish_reason(truncated))])]
        if self.include_usage:
            parts.append(self._chunk([], usage=self._usage(output_tokens)))
        parts.append(b"data: [DONE]\n\n")
        return b"".join(parts)

    def body(self, text: str, output_tokens: int, truncated: bool) -> bytes:
        message = {"role": "assistant", "content": text, "refusal": None}
        completion = {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": _FINGERPRINT,
            "choices": [_choice(message=message, finish_reason=_finish_reason(truncated))],
            "usage": self._usage(output_tokens),
        }
        return _json(completion).encode()


def _choice(finish_reason: str | None = None, **content: Any) -> dict[str, Any]:
    return {"index": 0, **content, "logprobs": None, "finish_reason": finish_reason}


def _finish_reason(truncated: bool) -> str:
    return "length" if truncated else "stop"


class OpenAIDialect:
    endpoint = ENDPOINT
    request_id_header = "x-request-id"

    def parse(self, body: object) -> OpenAIReply:
        if not isinstance(body, dict):
            raise InvalidRequestError("request body must be a JSON object")
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
        return OpenAIReply(
            model=model,
            stream=stream,
            prompt_key=prompt_key(model, parts),
            max_tokens=_max_tokens(body),
            input_tokens=count_words(text for _, text in parts),
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
        return _json(
            {"error": {"message": text, "type": kind, "param": param, "code": code}}
        ).encode()


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
    """The text of a string or of a list of content parts; other parts carry no words."""
    if content is None:
        return []  # an assistant message that only carries tool calls
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ]
    raise InvalidRequestError(
        f"Invalid type for 'messages[{index}].content': expected a string or an array.",
        param=f"messages.[{index}].content",
    )


DIALECT = OpenAIDialect()
