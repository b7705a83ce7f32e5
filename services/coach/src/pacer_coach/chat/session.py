"""One chat reply streamed as SSE, that always ends with `done`.

The LLM call runs in its own task (the pump) and hands events over a queue.
The response's generator only waits on that queue, so:
- a client disconnect cancels the generator, whose cleanup cancels the pump,
  which closes the upstream SDK stream at once;
- a shutdown cancels the pump and queues a `shutdown` marker: the generator
  sends `error` and `done` and ends;
- whatever happens, the assistant message is stored with the text the client
  was sent (:func:`pacer_coach.chat.turn.close_turn`), before the response ends:
  the drain on shutdown waits for that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import anyio
import asyncpg
from sse_starlette import ServerSentEvent

from pacer_coach.chat import events
from pacer_coach.chat.turn import ChatTurn, close_turn
from pacer_coach.metrics import STREAMS_FINISHED
from pacer_common.llm import (
    LLMClient,
    LLMError,
    StreamEnd,
    StreamStarted,
    TextDelta,
)
from pacer_common.logs import get_logger

log = get_logger(__name__)

# Once the stream is over, whatever cancelled it: how long stopping the LLM call
# may take, and then, on a budget of its own, storing the reply (with retries).
CLEANUP_TIMEOUT_S = 2.0
STORE_TIMEOUT_S = 5.0
# The queue wait is bounded by the LLM deadline plus this margin: the LLM layer
# enforces the deadline itself, this only guards against a bug there.
QUEUE_MARGIN_S = 5.0


class _Shutdown:
    pass


class _Finished:
    pass


@dataclass(frozen=True)
class _Failure:
    code: str
    message: str
    retryable: bool


_SHUTDOWN = _Shutdown()
_FINISHED = _Finished()
_QueueItem = StreamStarted | TextDelta | StreamEnd | _Shutdown | _Finished | _Failure

_SHUTDOWN_FAILURE = _Failure("shutdown", "The coach is restarting; please resend.", True)
_TIMEOUT_FAILURE = _Failure("timeout", "The coach took too long to answer.", True)


@dataclass
class _Reply:
    """What the client has been sent so far, and how the LLM call ended."""

    model: str | None
    meta_sent: bool = False
    text: list[str] = field(default_factory=list)
    end: StreamEnd | None = None
    failure: _Failure | None = None
    finished: bool = False

    @property
    def over(self) -> bool:
        return self.finished or self.failure is not None


@dataclass(frozen=True, slots=True)
class Ending:
    status: str  # complete, partial or failed: the stored row's status and the `done` event's
    code: str | None  # the error code stored with the row
    refund: bool  # give the message's quota back


def final_status(*, failure_code: str | None, cancelled: bool, has_text: bool) -> Ending:
    """How a reply ended.

    A reply is ``complete`` only if the LLM finished and the client stayed; else it
    is ``partial`` if the client saw some text and ``failed`` if none. A failure
    before any text is not the athlete's fault and gives the message back; a
    client that went away is charged, whatever it saw.
    """
    if cancelled:
        return Ending("partial" if has_text else "failed", "client_disconnected", refund=False)
    if failure_code is None:
        return Ending("complete", None, refund=False)
    status = "partial" if has_text else "failed"
    return Ending(status, failure_code, refund=status == "failed")


def _finish_reason(end: StreamEnd | None, failure: _Failure | None) -> str:
    """The provider's reason when the reply completed, else the error code."""
    if failure is not None:
        return failure.code
    return end.finish_reason if end is not None else "stop"


class ChatSession:
    def __init__(self, turn: ChatTurn, *, llm: LLMClient, pool: asyncpg.Pool) -> None:
        self.turn = turn
        self._llm = llm
        self._pool = pool
        self._queue: asyncio.Queue[_QueueItem] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._aborted = False
        self._started = time.monotonic()

    def abort_for_shutdown(self) -> None:
        self._aborted = True
        if self._pump is not None:
            self._pump.cancel()
        self._queue.put_nowait(_SHUTDOWN)

    async def _run_llm(self) -> None:
        try:
            async for event in self._llm.stream(
                self.turn.request,
                deadline=self.turn.deadline,
                user_id=self.turn.user_id,
                purpose="coach_chat",
            ):
                self._queue.put_nowait(event)
            self._queue.put_nowait(_FINISHED)
        except LLMError as error:
            self._queue.put_nowait(_Failure(error.code, error.message, error.retryable))
        except Exception:
            log.exception("coach_llm_call_crashed")
            self._queue.put_nowait(_Failure("internal", "The coach hit an internal error.", True))

    async def events(self) -> AsyncIterator[ServerSentEvent]:
        reply = _Reply(model=self.turn.request.model.code)
        if not self._aborted:  # a drain that came first needs no LLM call
            self._pump = asyncio.create_task(self._run_llm(), name="coach-llm")
        cancelled = False
        try:
            while not reply.over:
                async with asyncio.timeout(self.turn.deadline.remaining() + QUEUE_MARGIN_S):
                    item = await self._queue.get()
                for event in self._take(item, reply):
                    yield event
        except TimeoutError:
            reply.failure = _TIMEOUT_FAILURE
        except BaseException:
            # The client went away (or the server is force-closing): store, then let it propagate.
            cancelled = True
            raise
        finally:
            ending = final_status(
                failure_code=reply.failure.code if reply.failure else None,
                cancelled=cancelled,
                has_text=bool(reply.text),
            )
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(CLEANUP_TIMEOUT_S):
                    await self._stop_pump()
                with anyio.move_on_after(STORE_TIMEOUT_S):
                    await close_turn(
                        self._pool,
                        self.turn,
                        content="".join(reply.text),
                        status=ending.status,
                        code=ending.code,
                        model=reply.model,
                        end=reply.end,
                        refund=ending.refund,
                    )
            STREAMS_FINISHED.labels(ending.status, ending.code or "none").inc()
        for event in self._closing(reply, ending):
            yield event

    def _take(self, item: _QueueItem, reply: _Reply) -> Iterator[ServerSentEvent]:
        """The events one item from the pump sends, recording it in ``reply``."""
        if isinstance(item, StreamStarted):
            reply.model = item.model.code
            reply.meta_sent = True
            yield self._meta(reply)
        elif isinstance(item, TextDelta):
            if not reply.meta_sent:
                reply.meta_sent = True
                yield self._meta(reply)
            yield events.delta(item.text)
            # Recorded once the event is handed to the server (the generator only
            # resumes after its send): a client gone mid-send never saw it.
            reply.text.append(item.text)
        elif isinstance(item, StreamEnd):
            reply.end = item
        elif isinstance(item, _Failure):
            reply.failure = item
        elif isinstance(item, _Shutdown):
            reply.failure = _SHUTDOWN_FAILURE
        else:
            reply.finished = True

    def _closing(self, reply: _Reply, ending: Ending) -> Iterator[ServerSentEvent]:
        """meta if none was sent, the error if any, then done."""
        if not reply.meta_sent:
            yield self._meta(reply)
        if reply.failure is not None:
            failure = reply.failure
            yield events.error(failure.code, failure.message, retryable=failure.retryable)
        end = reply.end
        yield events.done(
            status=ending.status,
            finish_reason=_finish_reason(end, reply.failure),
            input_tokens=end.input_tokens if end else None,
            output_tokens=end.output_tokens if end else None,
            latency_ms=int((time.monotonic() - self._started) * 1000),
        )

    def _meta(self, reply: _Reply) -> ServerSentEvent:
        turn = self.turn
        return events.meta(
            conversation_id=str(turn.conversation_id),
            message_id=str(turn.assistant_message_id),
            user_message_id=str(turn.user_message_id),
            model=reply.model,
        )

    async def _stop_pump(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            await asyncio.wait([self._pump], timeout=CLEANUP_TIMEOUT_S)
