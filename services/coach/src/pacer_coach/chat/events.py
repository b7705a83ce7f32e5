"""The SSE events of a chat, as the brief defines them: meta, delta…, error?, done."""

from __future__ import annotations

import json
from typing import Any

from pacer_coach import sse


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return sse.event(name, json.dumps(payload, separators=(",", ":")))


def meta(
    *, conversation_id: str, message_id: str, user_message_id: str, model: str | None
) -> bytes:
    return _event(
        "meta",
        {
            "conversation_id": conversation_id,
            "message_id": message_id,
            "user_message_id": user_message_id,
            "model": model,
        },
    )


def delta(text: str) -> bytes:
    return _event("delta", {"text": text})


def error(code: str, message: str, *, retryable: bool) -> bytes:
    return _event("error", {"code": code, "message": message, "retryable": retryable})


def done(
    *,
    status: str,
    finish_reason: str,
    input_tokens: int | None,
    output_tokens: int | None,
    latency_ms: int,
) -> bytes:
    return _event(
        "done",
        {
            "status": status,
            "finish_reason": finish_reason,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            "latency_ms": latency_ms,
        },
    )
