"""Answering one completion request the way the current mode says, for either provider.

A provider module supplies a ``Dialect`` (parse a request, write an error) whose
``parse`` returns a ``Reply`` (write the stream events or the whole body). This
module owns everything the providers share: timing, faults, disconnect detection
and the outcome counted in the stats.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope, Send

from pacer_llm_sim.answers import Answer, Prompt, Script, plan
from pacer_llm_sim.control import Mode, Outcome, SimState
from pacer_llm_sim.exceptions import InvalidRequestError

# Statuses on which real providers ask the client to back off.
_BACKOFF_STATUSES = frozenset({429, 503, 529})


class Reply(Prompt, Protocol):
    """One valid completion request, and how its answers look on the wire."""

    def new_call_id(self) -> str:
        """A fresh id for a tool call, in the provider's format."""

    def script(self, answer: Answer) -> Script:
        """The streamed answer, pre-encoded."""

    def body(self, answer: Answer) -> bytes:
        """The whole non-streaming answer."""


class Dialect(Protocol):
    """One provider's endpoint: how to read its requests and write its errors."""

    endpoint: str
    request_id_header: str

    def parse(self, body: object) -> Reply:
        """Validate a request body; raise InvalidRequestError on a client bug."""

    def error_body(
        self, status: int, message: str | None = None, param: str | None = None
    ) -> bytes:
        """The provider's JSON error document for ``status``."""


class LLMEndpoint:
    """The ASGI app behind one provider's completion route."""

    def __init__(self, dialect: Dialect, sim: SimState) -> None:
        self.dialect = dialect
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sim = self.sim
        # Taken once: a mode change mid-request must not change this request's fate.
        mode = sim.mode
        with sim.stats.track(self.dialect.endpoint) as tracking:
            player = _Player(self.dialect, mode, receive, send, sim)
            player.on_first_token = tracking.first_token_sent
            try:
                body = await _read_json(Request(scope, receive))
                reply = self.dialect.parse(body)
            except InvalidRequestError as exc:
                await player.send_error(400, exc.message, exc.param)
                tracking.outcome = Outcome.ERRORS
                return
            except ClientDisconnect:
                return  # gone while sending the request; counted as disconnected
            tracking.model(reply.model)
            sim.stats.last_request = body
            tracking.outcome = await player.play(reply)


async def _read_json(request: Request) -> object:
    try:
        return json.loads(await request.body())
    except ValueError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None


@dataclass(eq=False)
class _Player:
    dialect: Dialect
    mode: Mode
    receive: Receive
    send: Send
    sim: SimState
    request_id: str = field(default_factory=lambda: f"req_sim_{uuid.uuid4().hex[:24]}")
    on_first_token: Callable[[], None] = lambda: None

    async def play(self, reply: Reply) -> Outcome:
        if self.mode.mode == "hang":
            # Send nothing at all; only the client giving up (or the server
            # stopping) ends the request.
            await _unless_disconnected(self.receive, self.sim.stopping.wait())
            return Outcome.DISCONNECTED
        if self.mode.mode == "error":
            finished = await _unless_disconnected(self.receive, self._error())
            return Outcome.ERRORS if finished else Outcome.DISCONNECTED
        drop = self.mode.mode == "drop"
        # Only a request that gets an answer (even a cut one) spends a tool round.
        scripted = self.sim.take_tool_calls(self.mode) if reply.offers_tools else None
        answer = plan(reply, self.mode, scripted, reply.new_call_id)
        work = (
            self._stream(reply, answer, drop) if reply.stream else self._whole(reply, answer, drop)
        )
        if not await _unless_disconnected(self.receive, work):
            return Outcome.DISCONNECTED
        return Outcome.DROPPED if drop else Outcome.COMPLETED

    async def _error(self) -> None:
        await _sleep_ms(self.mode.first_token_ms)
        await self.send_error(self.mode.status)

    async def send_error(
        self, status: int, message: str | None = None, param: str | None = None
    ) -> None:
        headers: dict[str, str] = {}
        if status in _BACKOFF_STATUSES and self.mode.retry_after_ms:
            headers["retry-after-ms"] = str(self.mode.retry_after_ms)
            headers["retry-after"] = str(math.ceil(self.mode.retry_after_ms / 1000))
        body = self.dialect.error_body(status, message, param)
        await self._start(status, "application/json", headers, content_length=len(body))
        await self._body(body, more=False)

    async def _stream(self, reply: Reply, answer: Answer, drop: bool) -> None:
        script = reply.script(answer)
        steps = script.steps[: len(script.steps) // 2] if drop else script.steps
        await self._start(200, "text/event-stream; charset=utf-8", {"cache-control": "no-cache"})
        await self._body(script.head)
        await _pace(self._body, steps, self.mode, self.on_first_token, self.sim)
        if drop:
            # Returning before the final body message makes uvicorn close the
            # connection mid-body: the client sees an incomplete chunked read,
            # not a clean end of stream.
            return
        await self._body(script.tail, more=False)

    async def _whole(self, reply: Reply, answer: Answer, drop: bool) -> None:
        await _sleep_ms(self.mode.first_token_ms + answer.steps * self.mode.token_ms)
        body = reply.body(answer)
        await self._start(200, "application/json", {}, content_length=len(body))
        if drop:
            # Half of a body promised by content-length, then the connection closes.
            await self._body(body[: len(body) // 2])
            return
        await self._body(body, more=False)

    async def _start(
        self,
        status: int,
        content_type: str,
        headers: dict[str, str],
        content_length: int | None = None,
    ) -> None:
        all_headers = {
            "content-type": content_type,
            self.dialect.request_id_header: self.request_id,
            **headers,
        }
        if content_length is not None:
            all_headers["content-length"] = str(content_length)
        raw = [(name.encode(), value.encode()) for name, value in all_headers.items()]
        await self.send({"type": "http.response.start", "status": status, "headers": raw})

    async def _body(self, data: bytes, *, more: bool = True) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": more})


async def _pace(
    write: Callable[[bytes], Coroutine[Any, Any, None]],
    steps: tuple[bytes, ...],
    mode: Mode,
    on_first: Callable[[], None],
    sim: SimState,
) -> None:
    """Write step i no earlier than ``first_token_ms + i * token_ms`` after now.

    The times are kept from one start rather than slept between writes, so a
    stream holds its rate when the process is busy (a sleep per token drifts by
    every late wake-up); when a wake-up comes late, the steps already due go out
    in one write: fewer writes exactly when the simulator is short of CPU.
    Waits go through the process's one Metronome rather than a timer each.
    """
    loop = asyncio.get_running_loop()
    # Taken once, as the request's own counters are: a stream in flight at a
    # reset settles on the stats it started with.
    stats = sim.stats
    start = loop.time()
    first_s, step_s = mode.first_token_ms / 1000, mode.token_ms / 1000
    sent = 0
    while sent < len(steps):
        due_at = start + first_s + sent * step_s
        now = loop.time()
        if due_at > now:
            await sim.metronome.until(due_at)
            now = loop.time()
        # Every step due by now; always at least the one just waited for.
        due = len(steps) if step_s == 0 else int((now - start - first_s) / step_s) + 1
        upto = min(len(steps), max(due, sent + 1))
        await write(steps[sent] if upto == sent + 1 else b"".join(steps[sent:upto]))
        stats.stream_writes += 1
        stats.stream_tokens += upto - sent
        if sent == 0:
            on_first()
        sent = upto


async def _sleep_ms(delay_ms: int) -> None:
    if delay_ms > 0:
        await asyncio.sleep(delay_ms / 1000)


async def _unless_disconnected(receive: Receive, work: Coroutine[Any, Any, object]) -> bool:
    """Run ``work`` to its end (True) unless the client disconnects first (False).

    Waiting on ``receive`` costs nothing while the client stays: the server only
    wakes it with ``http.disconnect``.
    """
    work_task = asyncio.ensure_future(work)
    watch_task = asyncio.ensure_future(_wait_for_disconnect(receive))
    tasks = (work_task, watch_task)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        # Let both really finish so nothing of this request outlives it.
        await asyncio.wait(tasks)
    if work_task.cancelled():
        return False
    work_task.result()  # surface a bug in the work rather than swallow it
    return True


async def _wait_for_disconnect(receive: Receive) -> None:
    message: Message = await receive()
    while message["type"] != "http.disconnect":
        message = await receive()
