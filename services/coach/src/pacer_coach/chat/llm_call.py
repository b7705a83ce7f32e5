"""Running a reply's LLM call: its events into the reply's outbox, its outcome kept.

``meta`` goes into the log as the call starts (it names the model that answers,
after any fallback); each text delta follows it, with a coaching session's
closing marker stripped first (:mod:`pacer_coach.chat.marker`). The call runs
on a task of its own, which a cancel or a shutdown cancels: that closes the
upstream SDK stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pacer_coach.chat.marker import MarkerStripper
from pacer_coach.chat.outbox import ReplyOutbox
from pacer_coach.chat.turn import ChatTurn
from pacer_common.llm import LLMClient, LLMError, StreamEnd, StreamStarted, TextDelta
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
) -> None:
    """The call, from its first event to its last; never raises but on cancellation."""
    try:
        async for event in llm.stream(
            turn.request, deadline=turn.deadline, user_id=turn.user_id, purpose="coach_chat"
        ):
            if isinstance(event, StreamStarted):
                outcome.model = event.model.code
                outbox.add(meta_entry(turn, outcome.model, event.model))
            elif isinstance(event, TextDelta):
                if outbox.meta is None:
                    outbox.add(meta_entry(turn, outcome.model, None))
                _text(outbox, outcome, event.text if marker is None else marker.feed(event.text))
            elif isinstance(event, StreamEnd):
                outcome.end = event
    except LLMError as error:
        outcome.failure = Failure(error.code, error.message, error.retryable)
    except Exception:
        log.exception("coach_llm_call_crashed")
        outcome.failure = INTERNAL
    finally:
        # Held back as a possible start of the marker that never came: it was the reply's.
        if marker is not None:
            _text(outbox, outcome, marker.flush())


def _text(outbox: ReplyOutbox, outcome: CallOutcome, text: str) -> None:
    if text:
        outcome.text.append(text)
        outcome.tokens += 1
        outbox.add_text(text)
