"""One chat reply produced into its log in Redis, which always ends with ``done``.

The producer runs the LLM call on a task of its own, not the request's: a client
that goes away no longer stops it, so it can come back and resume. It holds the
reply's parts and moves its state (:mod:`pacer_coach.chat.lifecycle`):

- the call (:mod:`pacer_coach.chat.llm_call`) writes ``meta`` and the text into the
  reply's outbox (:mod:`pacer_coach.chat.outbox`), which the process's one log
  writer drains into Redis (:mod:`pacer_coach.chat.log_writer`);
- a shutdown or a cancel (in this process at once; from another coach, through
  the cancel key the writer checks with each heartbeat, within about a second)
  cancels the call, which closes the upstream SDK stream;
- whatever ended the call, the reply is ended (:mod:`pacer_coach.chat.ending`):
  stored, ``done`` logged, the slot freed (the drain on shutdown waits for that).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import anyio

from pacer_coach.chat.ending import CLEANUP_TIMEOUT_S, ReplyEnd
from pacer_coach.chat.lifecycle import ReplyLifecycle, ReplyState
from pacer_coach.chat.llm_call import CANCELLED, SHUTDOWN, TIMEOUT, CallOutcome, run_llm_call
from pacer_coach.chat.marker import MarkerStripper
from pacer_coach.chat.outbox import ReplyOutbox
from pacer_coach.chat.services import ReplyServices
from pacer_coach.chat.tool_rounds import ToolRunner
from pacer_coach.chat.turn import ChatTurn
from pacer_common.reply_log import writing
from pacer_common.reply_log.entries import Entry
from pacer_common.topics import SESSION_END_MARKER

# The LLM call is bounded by its deadline plus this margin: the LLM layer
# enforces the deadline itself, this only guards against a bug there.
QUEUE_MARGIN_S = 5.0


class ReplyProducer:
    """Runs one reply's LLM call into its log; ``on_end`` runs once the reply is stored and done."""

    def __init__(
        self, turn: ChatTurn, services: ReplyServices, *, on_end: Callable[[], None]
    ) -> None:
        self.turn = turn
        self._services = services
        self._on_end = on_end
        self._lifecycle = ReplyLifecycle()
        self._outbox = ReplyOutbox(
            turn.assistant_message_id,
            self._lifecycle,
            writer=services.writer,
            log_ttl_s=services.log_ttl_s,
            flush_bytes=services.flush_bytes,
        )
        self._marker = MarkerStripper(SESSION_END_MARKER) if turn.session is not None else None
        self._outcome = CallOutcome(model=turn.request.model.code)
        self._call: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._started_s = time.monotonic()

    async def open(self) -> None:
        """Set the heartbeat before the response starts: readers wait for a live producer.

        Raises the Redis error if Redis is unreachable (the route answers 503).
        """
        await writing.start(self._services.redis, self.turn.assistant_message_id)

    def listen(self) -> asyncio.Queue[Entry | None]:
        """A feed of this reply's entries as they land; take it before :meth:`start`."""
        return self._outbox.listen()

    def unlisten(self, feed: asyncio.Queue[Entry | None]) -> None:
        self._outbox.unlisten(feed)

    def start(self) -> None:
        self._outbox.attach()
        self._task = asyncio.create_task(self._run(), name="coach-reply")

    def abort_for_shutdown(self) -> None:
        self._stop("shutdown")

    def cancel(self) -> None:
        """The athlete's cancel, on this process: the LLM call is closed now."""
        self._stop("cancelled")

    def _stop(self, reason: str) -> None:
        if self._lifecycle.stop(reason) and self._call is not None:
            self._call.cancel()

    async def _run(self) -> None:
        outcome = self._outcome
        try:
            if self._lifecycle.stop_reason is None:  # a drain that came first needs no call
                self._lifecycle.to(ReplyState.STREAMING)
                await self._call_until_stopped()
            if self._lifecycle.stop_reason == "shutdown":
                outcome.failure = SHUTDOWN
            elif self._lifecycle.stop_reason == "cancelled":
                outcome.failure = CANCELLED
        finally:
            self._lifecycle.to(ReplyState.ENDING)
            ending = ReplyEnd(
                self.turn,
                self._services,
                self._lifecycle,
                self._outbox,
                outcome,
                marker=self._marker,
                started_s=self._started_s,
            )
            with anyio.CancelScope(shield=True):
                await ending.run(self._on_end)

    def _tool_runner(self) -> ToolRunner | None:
        """The reply's tool calls, if its request offers tools (plain chat, steps above 0)."""
        if not self.turn.request.tools:
            return None
        return ToolRunner(
            self._services.pool,
            self.turn.user_id,
            self.turn.assistant_message_id,
            self._services.tools,
            self.turn.deadline,
            self._outbox,
        )

    async def _call_until_stopped(self) -> None:
        """The call, until it ends, a cancel is seen in Redis, or its deadline passes."""
        services = self._services
        self._call = asyncio.create_task(
            run_llm_call(
                services.llm,
                self.turn,
                self._outbox,
                self._outcome,
                self._marker,
                self._tool_runner(),
            ),
            name="coach-llm",
        )
        cancel_seen = asyncio.create_task(self._outbox.cancel_seen.wait())
        try:
            done, _ = await asyncio.wait(
                [self._call, cancel_seen],
                timeout=self.turn.deadline.remaining() + QUEUE_MARGIN_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if self._call in done:
                return
            if cancel_seen in done:
                self._stop("cancelled")
            else:
                self._outcome.failure = TIMEOUT
                self._call.cancel()
            await asyncio.wait([self._call], timeout=CLEANUP_TIMEOUT_S)
        finally:
            cancel_seen.cancel()
