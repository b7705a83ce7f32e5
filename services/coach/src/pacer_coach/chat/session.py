"""One chat reply produced into its log in Redis, that always ends with `done`.

The producer runs the LLM call on a task of its own, not the request's: a client
that goes away no longer stops it, so it can come back and resume
(:mod:`pacer_coach.chat.relay` reads the log for every resume; the POST's own
stream is fed each entry in-process once Redis has it, :meth:`ReplyProducer.listen`).
- deltas are coalesced: buffered in memory and written as one log entry per
  ``REPLY_FLUSH_MS`` window or per ``FLUSH_BYTES``, by the process's one writer
  (:mod:`pacer_coach.chat.log_writer`), which sends every reply's entries in
  one pipeline per window and beats each producer once a second (the
  heartbeat, the log's TTL and the cancel check), so Redis calls grow with
  time, not tokens or replies; entry ids are chosen here, so a write whose
  answer was lost is not logged twice on the retry;
- a shutdown or a cancel (in this process at once; from another coach, through
  the cancel key, within about a second) cancels the LLM task, which closes the
  upstream SDK stream;
- whatever happens, the assistant message is stored with the text produced
  (:func:`pacer_coach.chat.turn.close_turn`) before `done` is logged; the drain
  on shutdown waits for that (the producer holds the stream's slot);
- in a coaching session, the closing marker is stripped from the text before
  it is logged or stored, and the reply that ends the session (the marker,
  or the topic's max_turns reached) says so in `done` (``is_final: true``)
  and queues the session's extraction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import asyncpg
import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from pacer_coach.chat.log_writer import ReplyLogWriter
from pacer_coach.chat.marker import MarkerStripper
from pacer_coach.chat.turn import ChatTurn, close_turn
from pacer_coach.extraction import JobQueue
from pacer_coach.metrics import SESSIONS_ENDED, STREAMS_FINISHED
from pacer_common import notifications, redis_names
from pacer_common.llm import (
    LLMClient,
    LLMError,
    StreamEnd,
    StreamStarted,
    TextDelta,
)
from pacer_common.llm.registry import ModelSpec
from pacer_common.logs import get_logger
from pacer_common.topics import SESSION_END_MARKER

log = get_logger(__name__)

# Once the LLM call is over, whatever ended it: how long stopping it may take,
# and then, on a budget of its own, storing the reply (with retries).
CLEANUP_TIMEOUT_S = 2.0
STORE_TIMEOUT_S = 5.0
# The LLM call is bounded by its deadline plus this margin: the LLM layer
# enforces the deadline itself, this only guards against a bug there.
QUEUE_MARGIN_S = 5.0
# A delta entry is written early once its text reaches this size (REPLY_FLUSH_BYTES).
FLUSH_BYTES = 2048
# How long the reply's last entries (`done`) may take to land, the writer's retries
# included; within the shutdown drain (COACH_DRAIN_SECONDS, 2 s by default).
# After that a resume or the reaper settles the reply from what its log has.
FINAL_WRITE_S = 1.5


@dataclass(frozen=True)
class _Failure:
    code: str
    message: str
    retryable: bool


_SHUTDOWN_FAILURE = _Failure("shutdown", "The coach is restarting; please resend.", True)
_TIMEOUT_FAILURE = _Failure("timeout", "The coach took too long to answer.", True)
_CANCELLED_FAILURE = _Failure("cancelled", "The reply was cancelled.", False)


@dataclass
class _Reply:
    """What has been produced so far, and how the LLM call ended."""

    model: str | None
    meta_logged: bool = False
    text: list[str] = field(default_factory=list)
    end: StreamEnd | None = None
    failure: _Failure | None = None


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


def _finish_reason(end: StreamEnd | None, failure: _Failure | None) -> str:
    """The provider's reason when the reply completed, else the error code."""
    if failure is not None:
        return failure.code
    return end.finish_reason if end is not None else "stop"


@dataclass(frozen=True, slots=True)
class LocalEntry:
    """A logged entry handed to a reader in this process: its kind, JSON and id."""

    kind: str
    data: str
    id: str


def _entry_id(value: str | bytes) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else value
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))


class ReplyProducer:
    """Runs one reply's LLM call into its log; ``on_end`` runs once the reply is stored and done."""

    def __init__(
        self,
        turn: ChatTurn,
        *,
        llm: LLMClient,
        pool: asyncpg.Pool,
        redis_client: redis.Redis,
        writer: ReplyLogWriter,
        log_ttl_s: int,
        on_end: Callable[[], None],
        jobs: JobQueue | None = None,
        flush_bytes: int = FLUSH_BYTES,
    ) -> None:
        self.turn = turn
        self._jobs = jobs
        self._marker = MarkerStripper(SESSION_END_MARKER) if turn.session is not None else None
        self._llm = llm
        self._pool = pool
        self._redis = redis_client
        self._writer = writer
        self._log_ttl_s = log_ttl_s
        self._flush_bytes = flush_bytes
        self._on_end = on_end
        self._key = redis_names.reply_log_key(turn.assistant_message_id)
        self._heartbeat_key = redis_names.reply_heartbeat_key(turn.assistant_message_id)
        self._cancel_key = redis_names.reply_cancel_key(turn.assistant_message_id)
        self._reply = _Reply(model=turn.request.model.code)
        # Entries not yet in Redis, in order; deltas buffered into the last one.
        self._pending: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        # Each entry's id is chosen here, once, so that a write whose answer was
        # lost (the connection broke after Redis applied it) is not logged twice
        # on the retry: after a failed flush the log's last id says what landed.
        self._ids: list[str] = []
        self._last_id = (0, 0)
        self._check_log = False
        # What the writer's pipeline in flight carries of this reply.
        self._staged: list[LocalEntry] = []
        self._staged_final = False
        self._staged_beat = False
        self._cancel_checked = False
        # A beat whose write failed: sent with the next write, not a second later.
        self._beat_owed = False
        # Once `done` is pending: the log's TTL is set and the heartbeat deleted with it.
        self._final = False
        self._final_landed = asyncio.Event()
        self._gone = False  # no longer the writer's: it stages nothing more
        # Readers in this process (the POST's own response): each logged entry is
        # handed to them once Redis has it, so they need no XREAD round trip per
        # event; None ends their feed (they go on from the log if `done` was missed).
        self._listeners: list[asyncio.Queue[LocalEntry | None]] = []
        self._delta: list[str] = []
        self._delta_bytes = 0
        self._delta_tokens = 0
        self._log_ttl_set = False
        self._stop_reason: str | None = None  # "shutdown" or "cancelled"
        self._closing = False
        self._pump: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = time.monotonic()

    async def open(self) -> None:
        """Set the heartbeat before the response starts: readers wait for a live producer.

        Raises the Redis error if Redis is unreachable (the route answers 503).
        """
        await self._redis.set(self._heartbeat_key, "1", ex=redis_names.REPLY_HEARTBEAT_TTL_SECONDS)

    def listen(self) -> asyncio.Queue[LocalEntry | None]:
        """A feed of this reply's entries as they are logged; take it before :meth:`start`."""
        queue: asyncio.Queue[LocalEntry | None] = asyncio.Queue()
        self._listeners.append(queue)
        return queue

    def unlisten(self, queue: asyncio.Queue[LocalEntry | None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(queue)

    def start(self) -> None:
        self._writer.add(self)
        self._task = asyncio.create_task(self._run(), name="coach-reply")

    def abort_for_shutdown(self) -> None:
        self._stop("shutdown")

    def cancel(self) -> None:
        """The athlete's cancel, on this process: the LLM call is closed now."""
        self._stop("cancelled")

    def _stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
        if self._pump is not None:
            self._pump.cancel()

    # -- the log ---------------------------------------------------------------

    def _meta(self, spec: ModelSpec | None) -> None:
        turn = self.turn
        extra: dict[str, Any] = {}
        if spec is not None:
            extra = {
                "model_code": spec.code,
                "provider": str(spec.provider),
                "model_id": spec.model_id,
                "input_usd_per_mtok": str(spec.input_usd_per_mtok),
                "output_usd_per_mtok": str(spec.output_usd_per_mtok),
            }
        self._reply.meta_logged = True
        self._add(
            "meta",
            {
                "conversation_id": str(turn.conversation_id),
                "message_id": str(turn.assistant_message_id),
                "user_message_id": str(turn.user_message_id),
                "model": self._reply.model,
            },
            extra,
        )

    def _cut_delta(self) -> None:
        if self._delta:
            self._pending.append(
                ("delta", {"text": "".join(self._delta)}, {"n": self._delta_tokens})
            )
            self._delta, self._delta_bytes, self._delta_tokens = [], 0, 0

    def _add(self, kind: str, data: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        self._cut_delta()
        self._pending.append((kind, data, extra or {}))
        self._writer.now(self)

    def _add_text(self, text: str) -> None:
        self._delta.append(text)
        self._delta_bytes += len(text.encode())
        self._delta_tokens += 1
        if self._delta_bytes >= self._flush_bytes:
            self._cut_delta()
            self._writer.now(self)
        else:
            self._writer.soon(self)

    def _next_id(self) -> str:
        milliseconds = int(time.time() * 1000)
        last_ms, last_seq = self._last_id
        self._last_id = (milliseconds, 0) if milliseconds > last_ms else (last_ms, last_seq + 1)
        return f"{self._last_id[0]}-{self._last_id[1]}"

    # -- what the writer asks (chat/log_writer.py) ---------------------------------

    def _logged(self, count: int) -> list[LocalEntry]:
        return [
            LocalEntry(kind, _json(data), entry_id)
            for (kind, data, _), entry_id in zip(self._pending[:count], self._ids, strict=False)
        ]

    def _forward(self, entries: list[LocalEntry]) -> None:
        for queue in self._listeners:
            for entry in entries:
                queue.put_nowait(entry)

    @property
    def log_key(self) -> str:
        return self._key

    @property
    def needs_log_check(self) -> bool:
        return self._check_log

    def checked(self, newest: list[Any]) -> None:
        """After a failed write: forget (and hand on) the pending entries Redis did apply."""
        if newest:
            landed = _entry_id(newest[0][0])
            count = 0
            while count < len(self._ids) and _entry_id(self._ids[count]) <= landed:
                count += 1
            self._forward(self._logged(count))
            del self._ids[:count]
            del self._pending[:count]
        self._check_log = False

    def stage(self, pipe: Pipeline, *, beat: bool) -> tuple[int, int]:
        self._cut_delta()
        beat = beat or self._beat_owed
        if self._gone or not (self._pending or beat or self._final):
            return 0, 0
        while len(self._ids) < len(self._pending):
            self._ids.append(self._next_id())
        self._staged = self._logged(len(self._pending))
        # Everything is encoded before anything is queued: a failure here leaves the
        # pipeline as it was (the writer drops this reply, not the batch).
        entries: list[dict[Any, Any]] = []
        for (_, _, extra), entry in zip(self._pending, self._staged, strict=False):
            fields: dict[Any, Any] = {"t": entry.kind, "d": entry.data}
            if extra:
                fields["x"] = _json(extra)
            entries.append(fields)
        for fields, entry in zip(entries, self._staged, strict=True):
            pipe.xadd(
                self._key,
                fields,
                id=entry.id,
                maxlen=redis_names.REPLY_LOG_MAXLEN,
                approximate=True,
            )
        commands = len(self._staged)
        self._staged_final = self._final
        self._staged_beat = beat and not self._final
        self._cancel_checked = False
        if self._final:
            pipe.expire(self._key, self._log_ttl_s)
            pipe.delete(self._heartbeat_key)
            commands += 2
        else:
            # The TTL with the log's first entry, then with each beat.
            if beat or not self._log_ttl_set:
                pipe.expire(self._key, redis_names.REPLY_LOG_STREAMING_TTL_SECONDS)
                commands += 1
            if beat:
                pipe.set(self._heartbeat_key, "1", ex=redis_names.REPLY_HEARTBEAT_TTL_SECONDS)
                commands += 1
                if not self._closing:  # once the LLM call is over, there is nothing to cancel
                    pipe.exists(self._cancel_key)
                    commands += 1
                    self._cancel_checked = True
        return commands, len(self._staged)

    def landed(self, results: list[Any]) -> None:
        staged, self._staged = self._staged, []
        del self._pending[: len(staged)]
        del self._ids[: len(staged)]
        self._forward(staged)
        self._log_ttl_set = True
        if self._staged_beat:
            self._beat_owed = False
        if self._cancel_checked and results[-1]:
            self._stop("cancelled")
        if self._staged_final and not self._pending:
            self._final_landed.set()

    def failed(self, *, beat: bool) -> None:
        self._staged = []
        self._check_log = True
        self._beat_owed = self._beat_owed or beat

    # -- the LLM call ------------------------------------------------------------

    async def _run_llm(self) -> None:
        reply = self._reply
        try:
            async for event in self._llm.stream(
                self.turn.request,
                deadline=self.turn.deadline,
                user_id=self.turn.user_id,
                purpose="coach_chat",
            ):
                if isinstance(event, StreamStarted):
                    reply.model = event.model.code
                    self._meta(event.model)
                elif isinstance(event, TextDelta):
                    if not reply.meta_logged:
                        self._meta(None)
                    self._text(
                        event.text if self._marker is None else self._marker.feed(event.text)
                    )
                elif isinstance(event, StreamEnd):
                    reply.end = event
        except LLMError as error:
            reply.failure = _Failure(error.code, error.message, error.retryable)
        except Exception:
            log.exception("coach_llm_call_crashed")
            reply.failure = _Failure("internal", "The coach hit an internal error.", True)
        finally:
            # Held back as a possible start of the marker that never came: it was the reply's.
            if self._marker is not None:
                self._text(self._marker.flush())

    def _text(self, text: str) -> None:
        if text:
            self._reply.text.append(text)
            self._add_text(text)

    async def _run(self) -> None:
        reply = self._reply
        try:
            if self._stop_reason is None:  # a drain that came first needs no LLM call
                self._pump = asyncio.create_task(self._run_llm(), name="coach-llm")
                done, _ = await asyncio.wait(
                    [self._pump], timeout=self.turn.deadline.remaining() + QUEUE_MARGIN_S
                )
                if not done:
                    reply.failure = _TIMEOUT_FAILURE
                    self._pump.cancel()
                    await asyncio.wait([self._pump], timeout=CLEANUP_TIMEOUT_S)
            if self._stop_reason == "shutdown":
                reply.failure = _SHUTDOWN_FAILURE
            elif self._stop_reason == "cancelled":
                reply.failure = _CANCELLED_FAILURE
        finally:
            self._closing = True
            with anyio.CancelScope(shield=True):
                await self._finish()

    async def _finish(self) -> None:
        reply = self._reply
        ending = final_status(
            failure_code=reply.failure.code if reply.failure else None,
            cancelled=self._stop_reason == "cancelled",
            has_text=bool(reply.text),
        )
        session = self.turn.session
        # The conversation is over when the model closed it or the turns ran out; a
        # reply that failed before any text closes nothing (the athlete sends again).
        is_final = (
            session is not None
            and ending.status != "failed"
            and (session.last_turn or (self._marker is not None and self._marker.seen))
        )
        # Storing may retry for seconds on a Postgres blip: the writer beats the
        # producer all that time, so a reader does not take it for dead and settle the row.
        try:
            submitted = None
            with anyio.move_on_after(STORE_TIMEOUT_S):
                submitted = await close_turn(
                    self._pool,
                    self.turn,
                    content="".join(reply.text),
                    status=ending.status,
                    code=ending.code,
                    model=reply.model,
                    end=reply.end,
                    refund=ending.refund,
                    end_session=is_final,
                )
            STREAMS_FINISHED.labels(ending.status, ending.code or "none").inc()
            if not reply.meta_logged:
                self._meta(None)
            if reply.failure is not None:
                failure = reply.failure
                self._add(
                    "error",
                    {
                        "code": failure.code,
                        "message": failure.message,
                        "retryable": failure.retryable,
                    },
                )
            end = reply.end
            done: dict[str, Any] = {
                "status": ending.status,
                "finish_reason": _finish_reason(end, reply.failure),
                "usage": {
                    "input_tokens": end.input_tokens if end else None,
                    "output_tokens": end.output_tokens if end else None,
                },
                "latency_ms": int((time.monotonic() - self._started) * 1000),
            }
            if session is not None:
                done["is_final"] = is_final
            self._final = True
            self._add("done", done)
            # A blip as the reply ends: the writer retries each window for a while;
            # after that the reaper settles the row from the log.
            with anyio.move_on_after(FINAL_WRITE_S):
                await self._final_landed.wait()
            if submitted is not None:
                SESSIONS_ENDED.labels(
                    "marker" if self._marker is not None and self._marker.seen else "max_turns"
                ).inc()
            if submitted is not None and self._jobs is not None:
                # After `done`: the athlete's stream does not wait on arq's queue. Before the
                # slot goes: a drain waits for it, so a restart does not leave it to the reaper.
                with anyio.move_on_after(CLEANUP_TIMEOUT_S):
                    await self._jobs.enqueue(submitted)
        finally:
            self._gone = True
            self._writer.remove(self)
            for queue in self._listeners:
                queue.put_nowait(None)
            # The reply is stored and `done` logged: the slot is free. The athlete's
            # next message may come the moment `done` reaches them, before the
            # announcement below is written (it was refused 429 when it did).
            self._on_end()
        await self._announce(ending.status)

    async def _announce(self, status: str) -> None:
        """``reply.done`` on the user's notification stream, for their other tabs and devices."""
        turn = self.turn
        try:
            with anyio.move_on_after(CLEANUP_TIMEOUT_S):
                await notifications.publish(
                    self._redis,
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
