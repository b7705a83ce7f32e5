"""Running a reply's LLM call: its events into the reply's outbox, its outcome kept.

``meta`` goes into the log as the call starts (it names the model that answers,
after any fallback; once, whatever the rounds); each text delta follows it,
with a coaching session's closing marker stripped first
(:mod:`pacer_coach.chat.marker`), and each tool call's ``tool`` events
(:mod:`pacer_coach.chat.tool_rounds`). The call runs
on a task of its own, which a cancel or a shutdown cancels: that closes the
upstream SDK stream.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

from pacer_coach.chat.marker import MarkerStripper
from pacer_coach.chat.outbox import ReplyOutbox
from pacer_coach.chat.tool_rounds import ToolRunner
from pacer_coach.chat.turn import ChatTurn
from pacer_common.llm import (
    LLMClient,
    LLMError,
    LLMRequest,
    StreamEnd,
    StreamStarted,
    TextDelta,
    ToolCall,
    ToolCallTurn,
    ToolResultTurn,
)
from pacer_common.llm.registry import ModelSpec
from pacer_common.logs import get_logger
from pacer_common.reply_log import entries

log = get_logger(__name__)


@dataclass(frozen=True)
class Failure:
    code: str
    message: str
    retryable: bool


SHUTDOWN = Failure("shutdown", "The coach is restarting; please resend.", True)
TIMEOUT = Failure("timeout", "The coach took too long to answer.", True)
CANCELLED = Failure("cancelled", "The reply was cancelled.", False)
INTERNAL = Failure("internal", "The coach hit an internal error.", True)


@dataclass
class CallOutcome:
    """What the call produced, and how it ended."""

    model: str | None
    text: list[str] = field(default_factory=list)
    tokens: int = 0  # text deltas received, as the log's deltas count them
    end: StreamEnd | None = None
    failure: Failure | None = None


def meta_entry(turn: ChatTurn, model: str | None, spec: ModelSpec | None) -> entries.Entry:
    return entries.meta(
        conversation_id=turn.conversation_id,
        message_id=turn.assistant_message_id,
        user_message_id=turn.user_message_id,
        model=model,
        spec=spec,
    )


async def run_llm_call(
    llm: LLMClient,
    turn: ChatTurn,
    outbox: ReplyOutbox,
    outcome: CallOutcome,
    marker: MarkerStripper | None,
    tools: ToolRunner | None = None,
) -> None:
    """The call, from its first event to its last, its tool rounds included; never
    raises but on cancellation. With ``tools``, each round that ends in tool calls
    runs them (:mod:`pacer_coach.chat.tool_rounds`) and asks again with their
    results; after ``max_steps`` such rounds, the last is asked with tool_choice
    "none", so the reply ends in words."""
    request = turn.request
    try:
        for round_index in itertools.count():
            if tools is not None and round_index >= tools.limits.max_steps:
                request = dataclasses.replace(request, tool_choice="none")
            said_before = len(outcome.text)
            calls = await _one_round(llm, turn, request, outbox, outcome, marker)
            if tools is None or not calls or request.tool_choice == "none":
                return
            results = await tools.run_round(calls)
            said = "".join(outcome.text[said_before:])
            request = dataclasses.replace(
                request,
                messages=[*request.messages, ToolCallTurn(said, calls), ToolResultTurn(results)],
            )
    except LLMError as error:
        outcome.failure = Failure(error.code, error.message, error.retryable)
    except Exception:
        log.exception("coach_llm_call_crashed")
        outcome.failure = INTERNAL
    finally:
        # Held back as a possible start of the marker that never came: it was the reply's.
        if marker is not None:
            _text(outbox, outcome, marker.flush())


async def _one_round(
    llm: LLMClient,
    turn: ChatTurn,
    request: LLMRequest,
    outbox: ReplyOutbox,
    outcome: CallOutcome,
    marker: MarkerStripper | None,
) -> tuple[ToolCall, ...]:
    """One model call: its text into the outbox; the tool calls it ended with."""
    calls: list[ToolCall] = []
    async for event in llm.stream(
        request, deadline=turn.deadline, user_id=turn.user_id, purpose="coach_chat"
    ):
        if isinstance(event, StreamStarted):
            outcome.model = event.model.code
            if outbox.meta is None:  # once per reply, not per round
                outbox.add(meta_entry(turn, outcome.model, event.model))
        elif isinstance(event, TextDelta):
            if outbox.meta is None:
                outbox.add(meta_entry(turn, outcome.model, None))
            _text(outbox, outcome, event.text if marker is None else marker.feed(event.text))
        elif isinstance(event, ToolCall):
            calls.append(event)
        elif isinstance(event, StreamEnd):
            outcome.end = _summed(outcome.end, event)
    return tuple(calls)


def _summed(before: StreamEnd | None, end: StreamEnd) -> StreamEnd:
    """The reply's usage: every round's tokens, the last round's model and finish reason."""
    if before is None:
        return end
    return dataclasses.replace(
        end,
        input_tokens=before.input_tokens + end.input_tokens,
        output_tokens=before.output_tokens + end.output_tokens,
        ttft_ms=before.ttft_ms,
    )


def _text(outbox: ReplyOutbox, outcome: CallOutcome, text: str) -> None:
    if text:
        outcome.text.append(text)
        outcome.tokens += 1
        outbox.add_text(text)
