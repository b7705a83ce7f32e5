"""One writer per coach process: every reply's log writes, one Redis pipeline per window.

redis-py's cost is per pipeline more than per command: against a local valkey
a pipeline of one XADD costs the client about 79 µs, one of fifty about 9 µs
an entry. A reply writing its own pipeline per ``REPLY_FLUSH_MS`` window
paid the first figure on every window, and at 20 tokens/s (a token every 50
ms, longer than the window) that was once per token. So a reply's outbox
(:mod:`pacer_coach.chat.outbox`) only wakes the writer; once per window the
writer stages every dirty outbox's pending entries into one pipeline (at once
for an entry that must not wait: ``meta``, ``error``, ``done``, a full delta).
Once a second it also beats every outbox it has: each stages its heartbeat,
its log's TTL and its cancel check. The writer reads outboxes and writes
Redis; it never calls a producer.

Each outbox's commands are answered on their own (``raise_on_error=False``),
so one reply's failed write does not fail the others', and each keeps its own
retry: an outbox whose write failed stays dirty and is tried again the next
window, after it has checked which of its entries did land (its entry ids are
its own, so nothing is logged twice). Pipelines go out one at a time, so a
reply's entries land in order, and none waits longer than ``WRITE_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio as redis
from redis.asyncio.client import Pipeline

from pacer_coach.metrics import REPLY_LOG_ENTRIES, REPLY_LOG_WRITE_FAILURES, REPLY_LOG_WRITES
from pacer_common.logs import get_logger

log = get_logger(__name__)

# Every reply's heartbeat, log TTL and cancel check go out this often.
HEARTBEAT_EVERY_S = 1.0
# A pipeline that has not answered by then has failed: its outboxes retry.
WRITE_TIMEOUT_S = 2.0


class LogSource(Protocol):
    """What the writer needs of a reply (:class:`pacer_coach.chat.outbox.ReplyOutbox`)."""

    @property
    def log_key(self) -> str: ...

    @property
    def needs_log_check(self) -> bool:
        """A write failed: before the next, its log's newest entry says which entries landed."""
        ...

    def checked(self, newest: list[Any]) -> None:
        """``XREVRANGE log_key + - COUNT 1``'s answer: forget the entries Redis did apply."""
        ...

    def stage(self, pipe: Pipeline, *, beat: bool) -> tuple[int, int]:
        """Queue this reply's writes (``beat``: its heartbeat too) on ``pipe``:
        how many commands, and how many of them are entries; (0, 0) for none."""
        ...

    def landed(self, results: list[Any]) -> None:
        """Redis applied what :meth:`stage` queued; ``results`` are its commands' answers."""
        ...

    def failed(self, *, beat: bool) -> None:
        """What :meth:`stage` queued may or may not have been applied; ``beat``: it was
        to carry the heartbeat, which is then owed to the next write."""
        ...


class ReplyLogWriter:
    """Writes the reply logs of every reply in this process (``start`` once, ``aclose`` at the end)."""

    def __init__(self, client: redis.Redis, *, flush_ms: int, flush_max_ms: int = 0) -> None:
        self._client = client
        self._window_s = flush_ms / 1000
        # How long an outbox may hold a delta's text (chat/coalesce.py); 0: one window.
        self._max_window_s = max(flush_max_ms, flush_ms) / 1000
        # Insertion-ordered sets: the replies writing now, and those with writes pending.
        self._sources: dict[LogSource, None] = {}
        self._dirty: dict[LogSource, None] = {}
        # Those with a write that must not wait: they go out alone, and the others
        # keep their window (or every start and end of a reply would cut it short).
        self._urgent: dict[LogSource, None] = {}
        self._wake = asyncio.Event()
        self._window: asyncio.TimerHandle | None = None
        self._window_due = False
        self._beat: asyncio.TimerHandle | None = None
        self._beat_due = False
        self._task: asyncio.Task[None] | None = None
        # Logged when writes start failing and when they work again, not every window.
        self._failing = False

    @property
    def window_s(self) -> float:
        return self._window_s

    @property
    def max_window_s(self) -> float:
        return self._max_window_s

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="coach-reply-log-writer")

    async def aclose(self) -> None:
        # After the drain: every reply has written its `done` or given up.
        for timer in (self._window, self._beat):
            if timer is not None:
                timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def add(self, source: LogSource) -> None:
        self._sources[source] = None
        if self._beat is None and not self._beat_due:
            self._beat = asyncio.get_running_loop().call_later(HEARTBEAT_EVERY_S, self._on_beat)

    def remove(self, source: LogSource) -> None:
        self._sources.pop(source, None)
        self._dirty.pop(source, None)
        self._urgent.pop(source, None)

    def wake(self, source: LogSource, *, urgent: bool) -> None:
        """``source`` has writes pending; ``urgent``: they must not wait for the window."""
        if urgent:
            self.now(source)
        else:
            self.soon(source)

    def soon(self, source: LogSource) -> None:
        """``source`` has writes pending: they go out by the end of the current window."""
        if source in self._sources:
            self._dirty[source] = None
            if self._window is None:
                # One timer per window for the whole process, armed by its first write.
                self._window = asyncio.get_running_loop().call_later(
                    self._window_s, self._on_window
                )

    def now(self, source: LogSource) -> None:
        """``source`` has a write that must not wait for the window."""
        if source in self._sources:
            self._urgent[source] = None
            self._wake.set()

    def _on_window(self) -> None:
        self._window = None
        self._window_due = True
        self._wake.set()

    def _on_beat(self) -> None:
        self._beat = None
        self._beat_due = True
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            beat, self._beat_due = self._beat_due, False
            window_due, self._window_due = self._window_due, False
            if beat or window_due:
                if self._window is not None:
                    self._window.cancel()
                    self._window = None
                batch = list(self._sources if beat else {**self._dirty, **self._urgent})
                self._dirty.clear()
            else:
                batch = list(self._urgent)
                for source in batch:
                    self._dirty.pop(source, None)  # its text goes along
            self._urgent.clear()
            try:
                await self._write(batch, beat=beat)
            except Exception:
                # Never the end of the writer: one reply's bug must not stop every reply.
                log.exception("coach_reply_log_writer_crashed")
                for source in batch:
                    self.soon(source)
            # `add` may have armed the next beat while this write was out: one timer only.
            if beat and self._sources and self._beat is None:
                self._beat = asyncio.get_running_loop().call_later(HEARTBEAT_EVERY_S, self._on_beat)

    def _retry(self, source: LogSource, *, beat: bool) -> None:
        source.failed(beat=beat)
        self.soon(source)

    async def _write(self, batch: list[LogSource], *, beat: bool) -> None:
        """One window's (or beat's) writes: what landed after a failure, then one pipeline."""
        await self._check_landed(batch, beat=beat)
        async with self._client.pipeline(transaction=False) as pipe:
            staged, entries = self._stage(pipe, batch, beat=beat)
            if not staged:
                return
            results = await self._answers(pipe)
        if results is None:
            self._failed(staged, beat=beat)
            return
        if self._failing:
            self._failing = False
            log.info("coach_reply_log_writes_recovered", replies=len(staged))
        REPLY_LOG_WRITES.inc()
        REPLY_LOG_ENTRIES.inc(entries)
        at = 0
        for source, commands in staged:
            answers = results[at : at + commands]
            at += commands
            error = next((answer for answer in answers if isinstance(answer, Exception)), None)
            if error is not None:
                log.warning("coach_reply_log_command_failed", error=str(error))
                self._retry(source, beat=beat)
            else:
                source.landed(answers)

    async def _check_landed(self, batch: list[LogSource], *, beat: bool) -> None:
        """Only after a failed write (rare): each such log's newest id says what landed;
        a source whose look failed too leaves the batch and tries again next window."""
        checks = [source for source in batch if source.needs_log_check]
        if not checks:
            return
        newest = await self._execute(
            checks, lambda pipe, source: pipe.xrevrange(source.log_key, count=1)
        )
        for source, answer in zip(checks, newest, strict=True):
            if isinstance(answer, list):
                source.checked(answer)
            else:
                batch.remove(source)
                self._retry(source, beat=beat)

    def _stage(
        self, pipe: Pipeline, batch: list[LogSource], *, beat: bool
    ) -> tuple[list[tuple[LogSource, int]], int]:
        """Each source's commands on ``pipe``: (source, how many commands), and the entries."""
        staged: list[tuple[LogSource, int]] = []
        entries = 0
        for source in batch:
            try:
                commands, added = source.stage(pipe, beat=beat)
            except Exception:
                # A bug in one reply: it stops being written (its readers settle it
                # once its heartbeat lapses), and the others in the batch go on.
                # Nothing of it is on the pipeline: its entries are encoded before.
                log.exception("coach_reply_log_stage_failed")
                self.remove(source)
                continue
            if commands:
                staged.append((source, commands))
                entries += added
        return staged, entries

    def _failed(self, staged: list[tuple[LogSource, int]], *, beat: bool) -> None:
        REPLY_LOG_WRITE_FAILURES.inc()
        if not self._failing:
            self._failing = True
            log.warning("coach_reply_log_writes_failing", replies=len(staged))
        for source, _ in staged:
            self._retry(source, beat=beat)

    async def _execute(
        self, sources: list[LogSource], command: Callable[[Pipeline, LogSource], object]
    ) -> list[Any]:
        """One command per source in one pipeline: each one's answer (None for all if it failed)."""
        async with self._client.pipeline(transaction=False) as pipe:
            for source in sources:
                command(pipe, source)
            results = await self._answers(pipe)
        return [None] * len(sources) if results is None else results

    @staticmethod
    async def _answers(pipe: Pipeline) -> list[Any] | None:
        """Each command's answer or error; None if the pipeline failed as a whole."""
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                return await pipe.execute(raise_on_error=False)
        except Exception:
            return None
