"""Ending a reply, whatever ended its LLM call: decide its status, store it, log its
``error`` and ``done``, queue a finished session's extraction, announce it.

In that order, and each step whatever the one before did:

1. the status (:func:`final_status`), after the reply has claimed its end against
   a cancel (:func:`pacer_common.reply_log.writing.claim_end`): a cancel that was
   accepted first makes it ``cancelled``, one that comes later is refused;
2. the row (:func:`pacer_coach.chat.turn.close_turn`, with its Postgres retries),
   and the session's end when this reply closes it; a reply Postgres could not
   take is handed to :class:`~pacer_coach.chat.late_store.LateStores`;
3. ``error``? and ``done`` into the log, waited for (a short while);
4. the session's extraction on arq's queue, before the slot is freed (a drain waits);
5. the slot freed (``on_end``): the athlete may send the next message;
6. ``reply.done`` on the user's notification stream, for their other tabs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from redis.exceptions import RedisError

from pacer_coach.chat.lifecycle import ReplyLifecycle, ReplyState
from pacer_coach.chat.llm_call import CANCELLED, CallOutcome, Failure, meta_entry
from pacer_coach.chat.marker import MarkerStripper
from pacer_coach.chat.outbox import ReplyOutbox
from pacer_coach.chat.services import ReplyServices
from pacer_coach.chat.turn import GAVE_UP_ON_OUTAGE, ChatTurn, TurnClosed, close_turn
from pacer_coach.metrics import SESSIONS_ENDED, STREAMS_FINISHED
from pacer_common import notifications
from pacer_common.jobs import ledger
from pacer_common.llm import StreamEnd
from pacer_common.logs import get_logger
from pacer_common.reply_log import LoggedReply, entries, writing

log = get_logger(__name__)

# Each step after the LLM call has a budget of its own: a Redis command (the end's
# claim, the enqueue, the announcement), and storing the reply (with its retries).
CLEANUP_TIMEOUT_S = 2.0
STORE_TIMEOUT_S = 5.0
# How long the reply's last entries (`done`) may take to land, the writer's retries
# included; within the shutdown drain (COACH_DRAIN_SECONDS, 2 s by default).
# After that a resume or the reaper settles the reply from what its log has.
FINAL_WRITE_S = 1.5


@dataclass(frozen=True, slots=True)
class Ending:
    status: str  # complete, partial or failed: the stored row's status and the `done` event's
    code: str | None  # the error code stored with the row
    refund: bool  # give the message's quota back


def final_status(*, failure_code: str | None, cancelled: bool, has_text: bool) -> Ending:
    """How a reply ended.

    A reply is ``complete`` only if the LLM finished and nobody cancelled it; else
    it is ``partial`` if some text was produced and ``failed`` if none. A failure
    before any text is not the athlete's fault and gives the message back; a
    reply the athlete cancelled is charged, whatever it showed.
    """
    if cancelled:
        return Ending("partial" if has_text else "failed", "cancelled", refund=False)
    if failure_code is None:
        return Ending("complete", None, refund=False)
    status = "partial" if has_text else "failed"
    return Ending(status, failure_code, refund=status == "failed")


def _finish_reason(end: StreamEnd | None, failure: Failure | None) -> str:
    """The provider's reason when the reply completed, else the error code."""
    if failure is not None:
        return failure.code
    return end.finish_reason if end is not None else "stop"


@dataclass(eq=False)
class ReplyEnd:
    """The steps above, for one reply; :meth:`run` once, shielded from cancellation."""

    turn: ChatTurn
    services: ReplyServices
    lifecycle: ReplyLifecycle
    outbox: ReplyOutbox
    outcome: CallOutcome
    marker: MarkerStripper | None = field(kw_only=True)
    started_s: float = field(kw_only=True)

    async def run(self, on_end: Callable[[], None]) -> None:
        ending = await self._decide()
        try:
            is_final = self._ends_session(ending)
            submitted, maybe_unstored = await self._store(ending, is_final)
            STREAMS_FINISHED.labels(ending.status, ending.code or "none").inc()
            logged = self._log_ending(ending, is_final)
            # A blip as the reply ends: the writer retries each window for a while;
            # after that a reader or the reaper settles the row from the log.
            with anyio.move_on_after(FINAL_WRITE_S):
                await self.outbox.final_landed.wait()
            if maybe_unstored:
                self.services.late_stores.add(self.turn.assistant_message_id, logged)
            if submitted is not None:
                await self._session_ended(submitted)
        finally:
            if self.lifecycle.state is not ReplyState.CLOSED:
                self.lifecycle.to(ReplyState.CLOSED)
            self.outbox.close()
            # The reply is stored and `done` logged: the slot is free. The athlete's
            # next message may come the moment `done` reaches them, before the
            # announcement below is written (it was refused 429 when it did).
            on_end()
        await self._announce(ending.status)

    async def _decide(self) -> Ending:
        outcome = self.outcome
        cancelled = self.lifecycle.stop_reason == "cancelled"
        if not cancelled and not await self._end_claimed():
            cancelled = True
            outcome.failure = CANCELLED
        return final_status(
            failure_code=outcome.failure.code if outcome.failure else None,
            cancelled=cancelled,
            has_text=bool(outcome.text),
        )

    async def _end_claimed(self) -> bool:
        """False if a cancel was accepted before the call ended (see claim_end)."""
        try:
            with anyio.fail_after(CLEANUP_TIMEOUT_S):
                return await writing.claim_end(self.services.redis, self.turn.assistant_message_id)
        except (RedisError, OSError, TimeoutError):
            # Redis is away: no cancel could be accepted meanwhile either.
            log.warning("coach_reply_end_unclaimed", message_id=str(self.turn.assistant_message_id))
            return True

    def _ends_session(self, ending: Ending) -> bool:
        # The conversation is over when the model closed it or the turns ran out; a
        # reply that failed before any text closes nothing (the athlete sends again).
        session = self.turn.session
        return (
            session is not None
            and ending.status != "failed"
            and (session.last_turn or (self.marker is not None and self.marker.seen))
        )

    async def _store(self, ending: Ending, is_final: bool) -> tuple[ledger.Submitted | None, bool]:
        """The session's job if this reply ended it, and whether the row may lack the
        reply: Postgres stayed down through close_turn's retries, or storing outlasted
        STORE_TIMEOUT_S (a bug leaves the row to the reaper, as close_turn says)."""
        outcome = self.outcome
        closed: TurnClosed | None = None
        # Storing may retry for seconds on a Postgres blip: the writer beats the
        # reply all that time, so a reader does not take it for dead and settle the row.
        with anyio.move_on_after(STORE_TIMEOUT_S):
            closed = await close_turn(
                self.services.pool,
                self.turn,
                content="".join(outcome.text),
                status=ending.status,
                code=ending.code,
                model=outcome.model,
                end=outcome.end,
                refund=ending.refund,
                end_session=is_final,
            )
        if closed is None:
            return None, True
        return closed.submitted, closed.result == GAVE_UP_ON_OUTAGE

    def _log_ending(self, ending: Ending, is_final: bool) -> LoggedReply:
        """``meta`` if the call never logged it, ``error``?, ``done``: the whole reply
        as its log has it (for a late store)."""
        outcome, outbox = self.outcome, self.outbox
        if outbox.meta is None:
            outbox.add(meta_entry(self.turn, outcome.model, None))
        logged = [outbox.meta, entries.delta("".join(outcome.text), outcome.tokens)]
        if outcome.failure is not None:
            failure = outcome.failure
            error = entries.error(failure.code, failure.message, retryable=failure.retryable)
            outbox.add(error)
            logged.append(error)
        end = outcome.end
        done = entries.done(
            status=ending.status,
            finish_reason=_finish_reason(end, outcome.failure),
            input_tokens=end.input_tokens if end else None,
            output_tokens=end.output_tokens if end else None,
            latency_ms=int((time.monotonic() - self.started_s) * 1000),
            is_final=is_final if self.turn.session is not None else None,
        )
        self.lifecycle.to(ReplyState.FINAL)  # `done`'s write also ends the log
        outbox.add(done)
        return LoggedReply([entry for entry in (*logged, done) if entry is not None])

    async def _session_ended(self, submitted: ledger.Submitted) -> None:
        SESSIONS_ENDED.labels(
            "marker" if self.marker is not None and self.marker.seen else "max_turns"
        ).inc()
        # After `done`: the athlete's stream does not wait on arq's queue. Before the
        # slot goes: a drain waits for it, so a restart does not leave it to the reaper.
        with anyio.move_on_after(CLEANUP_TIMEOUT_S):
            await self.services.jobs.enqueue(submitted)

    async def _announce(self, status: str) -> None:
        """``reply.done`` on the user's notification stream, for their other tabs and devices."""
        turn = self.turn
        try:
            with anyio.move_on_after(CLEANUP_TIMEOUT_S):
                await notifications.publish(
                    self.services.redis,
                    turn.user_id,
                    "reply.done",
                    {
                        "conversation_id": str(turn.conversation_id),
                        "message_id": str(turn.assistant_message_id),
                        "status": status,
                    },
                )
        except RedisError:
            # The reply is stored and its log has `done`; only the other tabs miss the news.
            log.warning("reply_done_not_announced", message_id=str(turn.assistant_message_id))
