"""What goes into an LLM call and what comes out of it, provider-neutral.

A stream yields, in order::

    StreamStarted(model, fallback_used)   once, just before the first TextDelta or ToolCall
    TextDelta(text)                       zero or more
    ToolCall(call_id, name, arguments, arguments_error, arguments_text)
                                          zero or more, once the round's answer is complete
    StreamEnd(model, tokens, finish_reason, ttft_ms, duration_ms)   last

or raises an :class:`~pacer_common.llm.errors.LLMError` at any point. A round
that calls tools ends with ``finish_reason`` "tool_use"; the caller runs the
tools and asks again with the conversation extended by a :class:`ToolCallTurn`
(what the model said and called) and a :class:`ToolResultTurn` (the results)::

    LLMRequest(..., messages=[*before, ToolCallTurn(text, calls), ToolResultTurn(results)],
               tools=same_tools)

A tool call's arguments are parsed once its JSON is complete. Arguments that are
not a JSON object (cut off at ``max_tokens``, or malformed) are never passed off
as ``{}``: ``arguments`` is None and ``arguments_error`` says why, and the
caller answers the call with an error result.

A whole answer (:class:`Completion`) asked with ``output_schema`` carries the
provider's structured answer, parsed, in ``structured`` (OpenAI
``response_format`` json_schema with ``strict``; Anthropic a forced tool whose
``input_schema`` is the schema); an answer that is missing, cut off or not a
JSON object raises :class:`~pacer_common.llm.errors.LLMInvalidOutput`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pacer_common.llm.registry import ModelSpec

Role = Literal["user", "assistant"]
# What both providers accept as a tool's (and a structured answer's) name.
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"a tool or schema name is 1 to 64 of a-z, A-Z, 0-9, _ and -; got {name!r}"
        )


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model: its name, what it is for, and its arguments'
    JSON Schema (an object schema)."""

    name: str
    description: str
    input_schema: Mapping[str, Any]

    def __post_init__(self) -> None:
        _check_name(self.name)


@dataclass(frozen=True)
class OutputSchema:
    """The JSON Schema a whole answer must follow (an object schema), and its name."""

    name: str
    schema: Mapping[str, Any]

    def __post_init__(self) -> None:
        _check_name(self.name)


@dataclass(frozen=True)
class ToolCall:
    """One tool call of the model, complete: a stream event, and part of a ToolCallTurn.

    ``call_id`` is the provider's (``toolu_…`` / ``call_…``); the tool's result
    must name it. ``arguments`` is the parsed JSON object, or None with
    ``arguments_error`` saying why (cut off at max_tokens, not JSON, not an
    object). ``arguments_text`` is the JSON as the model streamed it, sent back
    verbatim in the ToolCallTurn.
    """

    call_id: str
    name: str
    arguments: dict[str, Any] | None
    arguments_error: str | None = None
    arguments_text: str = ""


@dataclass(frozen=True)
class ToolCallTurn:
    """The assistant's turn that called tools: its text (may be empty) and its calls."""

    text: str
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class ToolResult:
    """A tool's result for the call ``call_id``. OpenAI has no error flag: with
    ``is_error`` the content should read as an error by itself ("error: ...")."""

    call_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class ToolResultTurn:
    """The results of every call of the ToolCallTurn before it, in any order."""

    results: tuple[ToolResult, ...]


# One item of a conversation.
Message = ChatMessage | ToolCallTurn | ToolResultTurn


@dataclass(frozen=True)
class LLMRequest:
    system: str
    messages: Sequence[Message]
    max_tokens: int
    # The model to try first; a fallback may answer instead (see StreamStarted).
    model: ModelSpec
    # Tools the model may call. Once the conversation holds a ToolCallTurn, keep
    # offering them (Anthropic refuses tool blocks without tools); to make the
    # model answer in words at a step limit, set tool_choice "none".
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: Literal["auto", "none"] = "auto"
    # A whole answer (LLMClient.complete) shaped by this schema; see Completion.structured.
    output_schema: OutputSchema | None = None


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


StreamEvent = StreamStarted | TextDelta | ToolCall | StreamEnd


@dataclass(frozen=True)
class Completion:
    """A whole (non-streamed) answer.

    ``structured``: with ``output_schema``, the structured answer, a JSON object
    (not yet validated against the schema: the caller does that); ``text`` is
    then its JSON text as the provider sent it. ``tool_calls``: the calls of a
    round that called tools (finish_reason "tool_use").
    """

    text: str
    model: ModelSpec
    input_tokens: int
    output_tokens: int
    finish_reason: str
    fallback_used: bool
    structured: dict[str, Any] | None = None
    tool_calls: tuple[ToolCall, ...] = field(default=())
