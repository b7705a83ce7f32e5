"""What goes into an LLM call and what comes out of it, provider-neutral.

A stream yields, in order::

    StreamStarted(model, fallback_used)   once, just before the first TextDelta
    TextDelta(text)                       zero or more
    StreamEnd(model, tokens, finish_reason, ttft_ms, duration_ms)   last

or raises an :class:`~pacer_common.llm.errors.LLMError` at any point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pacer_common.llm.registry import ModelSpec

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class LLMRequest:
    system: str
    messages: list[ChatMessage]
    max_tokens: int
    # The model to try first; a fallback may answer instead (see StreamStarted).
    model: ModelSpec


@dataclass(frozen=True)
class StreamStarted:
    """Which model answers: ``fallback_used`` when the first choice failed before its first token."""

    model: ModelSpec
    fallback_used: bool


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StreamEnd:
    """The answering model's token counts; the clocks are the whole request's, as the user
    saw it (a failed first attempt included), measured from the call to ``stream()``."""

    model: ModelSpec
    input_tokens: int
    output_tokens: int
    # Normalised across providers: "stop", "length", "content_filter", "tool_use", or the raw value.
    finish_reason: str
    ttft_ms: int | None
    duration_ms: int


StreamEvent = StreamStarted | TextDelta | StreamEnd


@dataclass(frozen=True)
class Completion:
    """A whole (non-streamed) answer."""

    text: str
    model: ModelSpec
    input_tokens: int
    output_tokens: int
    finish_reason: str
    fallback_used: bool
