"""What the client needs from one provider, whatever its SDK.

Each provider module builds its SDK's call from an :class:`LLMRequest` and
translates what comes back (events, usage, errors) into these shapes and into
:mod:`pacer_common.llm.errors`; it never raises an SDK exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

from pacer_common.llm.registry import ModelSpec, Provider
from pacer_common.llm.types import LLMRequest, ToolCall

# Provider stop reasons in one vocabulary, so a caller need not know who answered.
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "stop": "stop",
    "max_tokens": "length",
    "length": "length",
    "content_filter": "content_filter",
    "refusal": "content_filter",
    "tool_use": "tool_use",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
}


def normalize_finish_reason(raw: str | None) -> str:
    if raw is None:
        return "unknown"
    return _FINISH_REASONS.get(raw, raw)


@dataclass(frozen=True)
class SdkTimeouts:
    """Per-phase SDK (httpx2) timeouts for one attempt, already capped by the deadline."""

    connect_s: float
    read_s: float
    # Write and pool wait.
    other_s: float


class ToolProgress:
    """A tool call's opening or one of its argument fragments: output of the model
    (it starts and keeps the token clocks), but no event yet: the ToolCall comes
    whole once the answer is complete."""

    def __repr__(self) -> str:
        return "TOOL_PROGRESS"


TOOL_PROGRESS: Final = ToolProgress()

# What a stream hands the attempt: a text delta, tool-call progress, or a complete call.
StreamPart = str | ToolProgress | ToolCall


class ProviderStream(Protocol):
    """An open streamed answer. Counts are None until the provider has sent them."""

    @property
    def input_tokens(self) -> int | None: ...
    @property
    def output_tokens(self) -> int | None: ...
    @property
    def finish_reason(self) -> str | None: ...

    async def next_part(self) -> StreamPart | None:
        """The next non-empty text delta or TOOL_PROGRESS as they stream, then
        the answer's ToolCalls once it is complete, then None.

        Raises LLMError; a stream that ends without the provider's end marker is
        a dropped stream (LLMUpstreamError), not a short answer (and its tool
        calls, unfinished, are never handed out).
        """

    async def close(self) -> None:
        """Close the HTTP response at once (the provider sees the client go away)."""


@dataclass(frozen=True)
class ProviderReply:
    """A whole answer. With an output schema, ``text`` is the structured answer's
    JSON text, and ``structured`` its object or None with ``structured_error``."""

    text: str
    input_tokens: int | None
    output_tokens: int | None
    finish_reason: str
    tool_calls: tuple[ToolCall, ...] = ()
    structured: dict[str, Any] | None = None
    structured_error: str | None = None


class ProviderClient(Protocol):
    @property
    def name(self) -> Provider: ...

    async def open_stream(
        self, request: LLMRequest, model: ModelSpec, timeouts: SdkTimeouts
    ) -> ProviderStream:
        """Send the request; return once the response headers are in. Raises LLMError."""

    async def complete(
        self, request: LLMRequest, model: ModelSpec, timeouts: SdkTimeouts
    ) -> ProviderReply:
        """Send the request and read the whole answer. Raises LLMError."""

    async def aclose(self) -> None: ...
