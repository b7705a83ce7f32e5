"""One chat reply streamed as SSE, that always ends with `done`.

The LLM call runs in its own task (the pump) and hands events over a queue.
The response's generator only waits on that queue, so:
- a client disconnect cancels the generator, whose cleanup cancels the pump,
  which closes the upstream SDK stream at once;
- a shutdown cancels the pump and queues a `shutdown` marker: the generator
  sends `error` and `done` and ends;
- whatever happens, the assistant message is stored with the text that arrived.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

import anyio
import asyncpg
from sse_starlette import ServerSentEvent

from pacer_coach.chat import events
from pacer_coach.metrics import STREAMS_FINISHED
from pacer_coach.store import conversations, quota
from pacer_common.llm import (
    Deadline,
    LLMClient,
    LLMError,
    LLMRequest,
    StreamEnd,
    StreamStarted,
    TextDelta,
)
from pacer_common.logs import get_logger

log = get_logger(__name__)

# How long the cleanup may take once the stream is over, whatever cancelled it.
CLEANUP_TIMEOUT_S = 5.0
# The queue wait is bounded by the LLM deadline plus this margin: the LLM layer
# enforces the deadline itself, this only guards against a bug there.
QUEUE_MARGIN_S = 5.0


@dataclass(frozen=True)
class ChatTurn:
    user_id: UUID
    conversation_id: UUID
    user_message_id: UUID
    assistant_message_id: UUID
    request: LLMRequest
    deadline: Deadline


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
        self._started = time.monotonic()

    def abort_for_shutdown(self) -> None:
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
        turn = self.turn
        model: str | None = turn.request.model.code
        meta_sent = False
        text: list[str] = []
        end: StreamEnd | None = None
        failure: _Failure | None = None
        cancelled = False
        self._pump = asyncio.create_task(self._run_llm(), name="coach-llm")

        def meta_event() -> ServerSentEvent:
            return events.meta(
                conversation_id=str(turn.conversation_id),
                message_id=str(turn.assistant_message_id),
                user_message_id=str(turn.user_message_id),
                model=model,
            )

        try:
            while True:
                async with asyncio.timeout(turn.deadline.remaining() + QUEUE_MARGIN_S):
                    item = await self._queue.get()
                if isinstance(item, StreamStarted):
                    model = item.model.code
                    meta_sent = True
                    yield meta_event()
                elif isinstance(item, TextDelta):
                    if not meta_sent:
                        meta_sent = True
                        yield meta_event()
                    text.append(item.text)
                    yield events.delta(item.text)
                elif isinstance(item, StreamEnd):
                    end = item
                elif isinstance(item, _Failure):
                    failure = item
                    break
                elif isinstance(item, _Shutdown):
                    failure = _Failure("shutdown", "The coach is restarting; please resend.", True)
                    break
                else:
                    break
        except TimeoutError:
            failure = _Failure("timeout", "The coach took too long to answer.", True)
        except BaseException:
            # The client went away (or the server is force-closing): store, then let it propagate.
            cancelled = True
            raise
        finally:
            status = (
                "complete"
                if failure is None and not cancelled
                else ("partial" if text else "failed")
            )
            code = "client_disconnected" if cancelled else (failure.code if failure else None)
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_TIMEOUT_S):
                await self._stop_pump()
                await self._store(
                    "".join(text),
                    status,
                    code,
                    model,
                    end,
                    refund=status == "failed" and not cancelled,
                )
            STREAMS_FINISHED.labels(status, code or "none").inc()

        if not meta_sent:
            yield meta_event()
        if failure is not None:
            yield events.error(failure.code, failure.message, retryable=failure.retryable)
        yield events.done(
            status=status,
            finish_reason=_finish_reason(end, failure),
            input_tokens=end.input_tokens if end else None,
            output_tokens=end.output_tokens if end else None,
            latency_ms=int((time.monotonic() - self._started) * 1000),
        )

    async def _stop_pump(self) -> None:
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            await asyncio.wait([self._pump], timeout=CLEANUP_TIMEOUT_S)

    async def _store(
        self,
        content: str,
        status: str,
        code: str | None,
        model: str | None,
        end: StreamEnd | None,
        *,
        refund: bool,
    ) -> None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conversations.finish_assistant_message(
                    conn,
                    self.turn.assistant_message_id,
                    content=content,
                    status=status,
                    model=model,
                    error_code=code,
                    input_tokens=end.input_tokens if end else None,
                    output_tokens=end.output_tokens if end else None,
                )
                if refund:
                    await quota.give_back_one(conn, self.turn.user_id, dt.datetime.now(dt.UTC))
        except Exception:
            # Never let storage break the stream's ending; the row stays 'streaming'.
            log.exception(
                "coach_store_reply_failed", message_id=str(self.turn.assistant_message_id)
            )
