"""One reply's entries on their way to its log: buffered, given ids, staged, handed on.

The producer puts entries here (:meth:`ReplyOutbox.add`, :meth:`~ReplyOutbox.add_text`)
and nothing else; the process's one writer (:mod:`pacer_coach.chat.log_writer`)
takes them from here into its pipelines. The producer never hears from the writer:
what Redis answered comes back as two events, :attr:`~ReplyOutbox.cancel_seen` and
:attr:`~ReplyOutbox.final_landed`, and as each landed entry handed to the readers in
this process (:meth:`~ReplyOutbox.listen`: the POST's own response needs no XREAD).

- deltas are coalesced (:mod:`pacer_coach.chat.coalesce`): the first at once, then
  one entry per window that grows from the writer's ``REPLY_FLUSH_MS`` towards
  ``REPLY_FLUSH_MAX_MS`` when tokens are sparse, or per ``flush_bytes``;
- each entry's id is chosen here, once, so that a write whose answer was lost (the
  connection broke after Redis applied it) is not logged twice on the retry: after
  a failed write the log's newest id says which entries landed;
- what the writer may stage follows the reply's state
  (:mod:`pacer_coach.chat.lifecycle`): a heartbeat, the cancel check, the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from redis.asyncio.client import Pipeline

from pacer_coach.chat.coalesce import DeltaCoalescer
from pacer_coach.chat.lifecycle import ReplyLifecycle, ReplyState
from pacer_common import redis_names
from pacer_common.reply_log import entries, writing
from pacer_common.reply_log.entries import Entry
from pacer_common.stream_id import StreamId


class Writer(Protocol):
    """The log writer, as an outbox sees it: told when there is something to write."""

    def add(self, source: ReplyOutbox) -> None: ...

    def remove(self, source: ReplyOutbox) -> None: ...

    def wake(self, source: ReplyOutbox, *, urgent: bool) -> None: ...

    @property
    def window_s(self) -> float:
        """The writer's window (``REPLY_FLUSH_MS``): how often it ticks."""
        ...

    @property
    def max_window_s(self) -> float:
        """The longest a delta's text may be held (``REPLY_FLUSH_MAX_MS``)."""
        ...


@dataclass(frozen=True, slots=True)
class _InFlight:
    """What the writer's pipeline in flight carries of this reply."""

    count: int  # of its pending entries
    end: bool
    beat: bool
    cancel_check: bool


class ReplyOutbox:
    def __init__(
        self,
        message_id: UUID,
        lifecycle: ReplyLifecycle,
        *,
        writer: Writer,
        log_ttl_s: int,
        flush_bytes: int,
    ) -> None:
        self.message_id = message_id
        self._lifecycle = lifecycle
        self._writer = writer
        self._log_ttl_s = log_ttl_s
        # Entries not yet in Redis, in order; the text being coalesced into the next delta.
        self._pending: list[Entry] = []
        self._text = DeltaCoalescer(
            base_s=writer.window_s, max_s=writer.max_window_s, flush_bytes=flush_bytes
        )
        self._last_id = StreamId(0, 0)
        self._in_flight: _InFlight | None = None
        self._check_log = False  # a write failed: its log's newest id says what landed
        self._beat_owed = False  # a beat whose write failed goes with the next write
        self._ttl_set = False
        self.meta: Entry | None = None
        self.cancel_seen = asyncio.Event()
        self.final_landed = asyncio.Event()
        self._listeners: list[asyncio.Queue[Entry | None]] = []

    # -- the producer's side ------------------------------------------------------

    def add(self, entry: Entry) -> None:
        """An entry that must not wait for the window (``meta``, ``error``, ``done``)."""
        self._cut_delta()
        if entry.kind == entries.Kind.META:
            self.meta = entry
        self._pending.append(entry)
        self._writer.wake(self, urgent=True)

    def add_text(self, text: str) -> None:
        if self._text.add(text):
            self._cut_delta()
            self._writer.wake(self, urgent=True)
        else:
            self._writer.wake(self, urgent=False)

    def attach(self) -> None:
        """The writer beats this reply from now on, and writes what it is given."""
        self._writer.add(self)

    def listen(self) -> asyncio.Queue[Entry | None]:
        """A feed of the entries as they land; None ends it (the rest is in the log)."""
        queue: asyncio.Queue[Entry | None] = asyncio.Queue()
        self._listeners.append(queue)
        return queue

    def unlisten(self, queue: asyncio.Queue[Entry | None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(queue)

    def close(self) -> None:
        """No longer written: the writer lets go, the readers' feeds end."""
        self._writer.remove(self)
        for queue in self._listeners:
            queue.put_nowait(None)

    # -- the writer's side (chat/log_writer.py's LogSource) ---------------------------

    @property
    def log_key(self) -> str:
        return redis_names.reply_log_key(self.message_id)

    @property
    def needs_log_check(self) -> bool:
        return self._check_log

    def checked(self, newest: list[Any]) -> None:
        """After a failed write: forget (and hand on) the pending entries Redis did apply."""
        if newest:
            landed = StreamId.parse(newest[0][0])
            count = 0
            for entry in self._pending:
                if not entry.id or StreamId.parse(entry.id) > landed:
                    break
                count += 1
            self._forward(self._pending[:count])
            del self._pending[:count]
        self._check_log = False

    def stage(self, pipe: Pipeline, *, beat: bool) -> tuple[int, int]:
        """Queue this reply's writes on ``pipe``: (commands, of which entries); (0, 0) for none."""
        if self._text.due():
            self._cut_delta()
        elif self._text.holding:
            self._writer.wake(self, urgent=False)  # not yet: the next window looks again
        beat = beat or self._beat_owed
        end = self._lifecycle.state is ReplyState.FINAL
        if not self._lifecycle.writes or not (self._pending or beat or end):
            return 0, 0
        self._pending = [entry if entry.id else self._with_id(entry) for entry in self._pending]
        commands = writing.stage_entries(pipe, self.message_id, self._pending)
        cancel_check = beat and not end and self._lifecycle.checks_cancel
        if end:
            commands += writing.stage_end(pipe, self.message_id, self._log_ttl_s)
        else:
            # The log's TTL with its first entry, then with each beat.
            if beat or not self._ttl_set:
                commands += writing.stage_streaming_ttl(pipe, self.message_id)
            if beat:
                commands += writing.stage_heartbeat(
                    pipe, self.message_id, check_cancel=cancel_check
                )
        self._in_flight = _InFlight(len(self._pending), end, beat and not end, cancel_check)
        return commands, len(self._pending)

    def landed(self, results: list[Any]) -> None:
        flight, self._in_flight = self._in_flight, None
        if flight is None:
            return
        sent = self._pending[: flight.count]
        del self._pending[: flight.count]
        self._forward(sent)
        self._ttl_set = True
        if flight.beat:
            self._beat_owed = False
        if flight.cancel_check and results[-1]:
            self.cancel_seen.set()
        if flight.end and not self._pending:
            self.final_landed.set()

    def failed(self, *, beat: bool) -> None:
        self._in_flight = None
        self._check_log = True
        self._beat_owed = self._beat_owed or beat

    # -- inside ---------------------------------------------------------------------

    def _cut_delta(self) -> None:
        if self._text.holding:
            self._pending.append(entries.delta(*self._text.take()))

    def _with_id(self, entry: Entry) -> Entry:
        milliseconds = int(time.time() * 1000)
        last = self._last_id
        self._last_id = (
            StreamId(milliseconds, 0) if milliseconds > last.ms else StreamId(last.ms, last.seq + 1)
        )
        return dataclasses.replace(entry, id=str(self._last_id))

    def _forward(self, landed: list[Entry]) -> None:
        for queue in self._listeners:
            for entry in landed:
                queue.put_nowait(entry)
