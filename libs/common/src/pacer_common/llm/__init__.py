"""The LLM layer: one small interface over the official Anthropic and OpenAI SDKs.

Used by the coach (streamed chat) and the briefing worker (whole answers). No
code outside :mod:`pacer_common.llm.providers` imports an SDK. See
:class:`LLMClient` for how to call it and :mod:`pacer_common.llm.errors` for
what it raises.
"""

from __future__ import annotations

from pacer_common.llm.budget import Deadline
from pacer_common.llm.client import ClientConfig, LLMClient
from pacer_common.llm.errors import (
    LLMError,
    LLMInvalidOutput,
    LLMOverloaded,
    LLMTimeout,
    LLMUpstreamError,
)
from pacer_common.llm.registry import MODEL_REGISTRY, ModelSpec, Provider
from pacer_common.llm.settings import LLMSettings
from pacer_common.llm.types import (
    ChatMessage,
    Completion,
    LLMRequest,
    Message,
    OutputSchema,
    StreamEnd,
    StreamEvent,
    StreamStarted,
    TextDelta,
    ToolCall,
    ToolCallTurn,
    ToolResult,
    ToolResultTurn,
    ToolSpec,
)
from pacer_common.llm.usage import Outcome, UsageRecord, UsageSink

__all__ = [
    "MODEL_REGISTRY",
    "ChatMessage",
    "ClientConfig",
    "Completion",
    "Deadline",
    "LLMClient",
    "LLMError",
    "LLMInvalidOutput",
    "LLMOverloaded",
    "LLMRequest",
    "LLMSettings",
    "LLMTimeout",
    "LLMUpstreamError",
    "Message",
    "ModelSpec",
    "Outcome",
    "OutputSchema",
    "Provider",
    "StreamEnd",
    "StreamEvent",
    "StreamStarted",
    "TextDelta",
    "ToolCall",
    "ToolCallTurn",
    "ToolResult",
    "ToolResultTurn",
    "ToolSpec",
    "UsageRecord",
    "UsageSink",
]
