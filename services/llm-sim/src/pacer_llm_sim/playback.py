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
from typing import Any, Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope, Send

from pacer_llm_sim.control import SESSION_END_MARKER, Mode, Outcome, SimState
from pacer_llm_sim.exceptions import InvalidRequestError
from pacer_llm_sim.replies import reply_tokens, split_tokens

# Statuses on which real providers ask the client to back off.
_BACKOFF_STATUSES = frozenset({429, 503, 529})


class Reply(Protocol):
    """One valid completion request, and how its answer looks on the wire."""

    @property
    def model(self) -> str: ...
    @property
    def stream(self) -> bool: ...
    @property
    def prompt_key(self) -> bytes: ...
    @property
    def max_tokens(self) -> int | None: ...

    def head(self) -> bytes:
        """Stream bytes sent at once, before the first token."""

    def token(self, text: str) -> bytes:
        """Stream bytes carrying one token."""

    def tail(self, output_tokens: int, truncated: bool) -> bytes:
        """Stream bytes that end a complete answer."""

    def body(self, text: str, output_tokens: int, truncated: bool) -> bytes:
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

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sim: SimState = scope["state"]["sim"]
        # Taken once: a mode change mid-request must not change this request's fate.
        mode = sim.mode
        with sim.stats.track(self.dialect.endpoint) as tracking:
            player = _Player(self.dialect, mode, receive, send, sim.stopping)
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


class _Player:
    def __init__(
        self, dialect: Dialect, mode: Mode, receive: Receive, send: Send, stopping: asyncio.Event
    ) -> None:
        self.dialect = dialect
        self.mode = mode
        self.receive = receive
        self.send = send
        self.stopping = stopping
        self.request_id = f"req_sim_{uuid.uuid4().hex[:24]}"
        self.on_first_token: Callable[[], None] = lambda: None

    async def play(self, reply: Reply) -> Outcome:
        if self.mode.mode == "hang":
            # Send nothing at all; only the client giving up (or the server
            # stopping) ends the request.
            await _unless_disconnected(self.receive, self.stopping.wait())
            return Outcome.DISCONNECTED
        if self.mode.mode == "error":
            finished = await _unless_disconnected(self.receive, self._error())
            return Outcome.ERRORS if finished else Outcome.DISCONNECTED
        drop = self.mode.mode == "drop"
        work = self._stream(reply, drop) if reply.stream else self._whole(reply, drop)
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

    async def _stream(self, reply: Reply, drop: bool) -> None:
        tokens, truncated = self._tokens(reply)
        if drop:
            tokens = tokens[: len(tokens) // 2]
        await self._start(200, "text/event-stream; charset=utf-8", {"cache-control": "no-cache"})
        await self._body(reply.head())
        for index, token in enumerate(tokens):
            await _sleep_ms(self.mode.first_token_ms if index == 0 else self.mode.token_ms)
            await self._body(reply.token(token))
            if index == 0:
                self.on_first_token()
        if drop:
            # Returning before the final body message makes hypercorn close the
            # connection mid-body: the client sees an incomplete chunked read,
            # not a clean end of stream.
            return
        await self._body(reply.tail(len(tokens), truncated), more=False)

    async def _whole(self, reply: Reply, drop: bool) -> None:
        tokens, truncated = self._tokens(reply)
        await _sleep_ms(self.mode.first_token_ms + len(tokens) * self.mode.token_ms)
        body = reply.body("".join(tokens), len(tokens), truncated)
        await self._start(200, "application/json", {}, content_length=len(body))
        if drop:
            # Half of a body promised by content-length, then the connection closes.
            await self._body(body[: len(body) // 2])
            return
        await self._body(body, more=False)

    def _tokens(self, reply: Reply) -> tuple[list[str], bool]:
        if self.mode.text is not None:
            tokens = split_tokens(self.mode.text)
        else:
            tokens = reply_tokens(reply.prompt_key, self.mode.tokens)
        if self.mode.end_session:
            half = len(SESSION_END_MARKER) // 2
            tokens += [SESSION_END_MARKER[:half], SESSION_END_MARKER[half:]]
        count = len(tokens)
        truncated = reply.max_tokens is not None and reply.max_tokens < count
        if reply.max_tokens is not None:
            count = min(count, reply.max_tokens)
        return tokens[:count], truncated

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
