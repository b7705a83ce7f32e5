"""What the two SDK providers share: the shape of a call around the SDK, and
what every stream keeps while it is read.

:class:`SdkProvider` sends a request through an SDK's endpoint (streamed, as
the raw response or the SDK's typed events, or whole) and turns what the SDK
raises into :mod:`pacer_common.llm.errors`. A provider module says only what
differs: its SDK's client and endpoint, the request's arguments, how a whole
reply, its structured answer and each stream event are read, and how its errors
are classified::

    class AnthropicProvider(SdkProvider[anthropic.AsyncAnthropic]):
        name = "anthropic"
        sdk_client = anthropic.AsyncAnthropic
        sdk_errors = SdkErrors((anthropic.AnthropicError, httpx2.HTTPError), translate)
        ...

A stream is :class:`TypedEventStream` (the SDK's event objects) or, with
``raw_stream`` (``LLM_RAW_STREAM``, the default), :class:`RawEventStream`: the
same events read from the SDK's raw response, decoded by :mod:`._sse` and
``json.loads`` instead of typed objects, with the same errors. Each provider's
pair implements ``on_event`` and says when its answer has ended.

``on_event`` returns the event's text, or TOOL_PROGRESS for a tool call's
opening or argument fragment (which it hands to ``self.tool_calls``, a
:class:`._tool_calls.ToolCallAssembler`). Once the events end with the
provider's end marker, the assembled calls are handed out one by one; a stream
cut short hands out none.
"""

from __future__ import annotations

import abc
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Protocol, Self, TypeVar

import httpx2

from pacer_common.llm.errors import LLMError, LLMUpstreamError
from pacer_common.llm.providers._body import as_httpx2_error, body_read
from pacer_common.llm.providers._http import describe, from_transport, httpx_timeout
from pacer_common.llm.providers._sse import SSEReader
from pacer_common.llm.providers._tool_calls import ToolCallAssembler
from pacer_common.llm.providers.base import (
    ProviderReply,
    ProviderStream,
    SdkTimeouts,
    StreamPart,
    ToolProgress,
)
from pacer_common.llm.registry import ModelSpec, Provider
from pacer_common.llm.types import LLMRequest, ToolCall

# The HTTP client under the SDK: its own httpx2 one, or the SDK's DefaultAioHttpClient
# (httpx2's interface over an aiohttp transport; the SDKs' `aiohttp` extra).
HttpClientKind = Literal["httpx", "aiohttp"]


def _aiohttp_client() -> Any:
    """The Anthropic SDK's DefaultAioHttpClient, for both SDKs.

    Both SDKs vendor the same transport (httpx-aiohttp 0.2.0, httpx2 variant) with
    the same connection limits, but the OpenAI SDK's copy maps every aiohttp
    connection error to ``httpx2.ConnectTimeout``: a refused connection would read
    as a timeout (LLMTimeout, not LLMUpstreamError). The Anthropic SDK's copy maps
    it to ``ConnectError`` (its NOTICE.md lists the fix), as httpx2 itself does.
    """
    import anthropic

    return anthropic.DefaultAioHttpClient()


@dataclass(frozen=True)
class SdkErrors:
    """What an SDK raises, httpx2's transport errors included (see _http), and
    how each becomes an LLMError."""

    types: tuple[type[Exception], ...]
    translate: Callable[[Exception, ModelSpec], LLMError]


class _SdkClient(Protocol):
    async def close(self) -> None: ...


ClientT = TypeVar("ClientT", bound=_SdkClient)


class SdkProvider(abc.ABC, Generic[ClientT]):
    """One provider SDK as a :class:`~pacer_common.llm.providers.base.ProviderClient`."""

    name: ClassVar[Provider]
    # The SDK's client class: both take api_key, base_url, max_retries and timeout.
    sdk_client: ClassVar[Callable[..., Any]]
    sdk_errors: ClassVar[SdkErrors]
    # How a stream is read: its raw response, or the SDK's typed events.
    raw_stream_class: ClassVar[type[RawEventStream]]
    typed_stream_class: ClassVar[type[TypedEventStream]]

    def __init__(self, client: ClientT, *, raw_stream: bool = True) -> None:
        self._client = client
        self._raw_stream = raw_stream

    @classmethod
    def create(
        cls,
        *,
        api_key: str,
        base_url: str | None,
        max_retries: int,
        timeouts: SdkTimeouts,
        raw_stream: bool = True,
        http_client: HttpClientKind = "httpx",
    ) -> Self:
        # The timeouts go to the SDK either way: it passes them with each request, and
        # the aiohttp transport maps them onto aiohttp's (connect, read per socket read).
        extra = {"http_client": _aiohttp_client()} if http_client == "aiohttp" else {}
        client = cls.sdk_client(
            api_key=api_key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=httpx_timeout(timeouts),
            **extra,
        )
        return cls(client, raw_stream=raw_stream)

    async def open_stream(
        self, request: LLMRequest, model: ModelSpec, timeouts: SdkTimeouts
    ) -> ProviderStream:
        arguments = self.arguments(request, model, timeouts, stream=True)
        try:
            if self._raw_stream:
                # The SDK sends it (auth, base URL, retries, status errors); the body is ours to read.
                streaming = self.endpoint().with_streaming_response.create(**arguments)
                return self.raw_stream_class(await streaming.__aenter__(), model)
            return self.typed_stream_class(await self.endpoint().create(**arguments), model)
        except self.sdk_errors.types as error:
            raise self.sdk_errors.translate(error, model) from error

    async def complete(
        self, request: LLMRequest, model: ModelSpec, timeouts: SdkTimeouts
    ) -> ProviderReply:
        arguments = self.arguments(request, model, timeouts, stream=False)
        try:
            answer = await self.endpoint().create(**arguments)
        except self.sdk_errors.types as error:
            raise self.sdk_errors.translate(error, model) from error
        return self.reply(answer, request, model)

    def reply(self, answer: Any, request: LLMRequest, model: ModelSpec) -> ProviderReply:
        """A whole answer read, then its structured answer if ``request`` asked for one."""
        whole = self.whole_reply(answer, model)
        if request.output_schema is None:
            return whole
        return self.structured_reply(answer, whole, request.output_schema.name)

    async def aclose(self) -> None:
        await self._client.close()

    # ---- What each provider says ----

    @abc.abstractmethod
    def endpoint(self) -> Any:
        """The SDK resource whose ``create`` (and ``with_streaming_response.create``) is called."""

    @abc.abstractmethod
    def arguments(
        self, request: LLMRequest, model: ModelSpec, timeouts: SdkTimeouts, *, stream: bool
    ) -> dict[str, Any]:
        """The endpoint's keyword arguments for ``request``."""

    @abc.abstractmethod
    def whole_reply(self, answer: Any, model: ModelSpec) -> ProviderReply:
        """A whole answer's text, token counts, finish reason and tool calls."""

    @abc.abstractmethod
    def structured_reply(self, answer: Any, reply: ProviderReply, name: str) -> ProviderReply:
        """``reply`` (:meth:`whole_reply`'s) with the structured answer the request asked
        for as ``name`` read into ``structured``, or why not into ``structured_error``."""


class _EventStream(abc.ABC):
    """What a stream knows of its answer so far (ProviderStream's counts), and
    whether the provider's end marker came: without it the answer was cut off."""

    # The LLMUpstreamError's detail for an answer that stopped before its end marker.
    unfinished: ClassVar[str]

    def __init__(self, model: ModelSpec) -> None:
        self._model = model
        self.ended = False
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.finish_reason: str | None = None
        self.tool_calls = ToolCallAssembler()
        self._ready: deque[ToolCall] = deque()
        self._finished = False

    def _end_of_events(self) -> ToolCall | None:
        """The events are over: the first of the answer's tool calls, or None."""
        if not self.ended:
            raise LLMUpstreamError(model=self._model, detail=self.unfinished)
        if not self._finished:
            self._finished = True
            self._ready.extend(self.tool_calls.finish(self.finish_reason))
        return self._ready.popleft() if self._ready else None


_END = object()


class TypedEventStream(_EventStream):
    """A stream read as the SDK's typed events."""

    # What reading the SDK stream raises: the provider's.
    sdk_errors: ClassVar[SdkErrors]

    def __init__(self, events: Any, model: ModelSpec) -> None:
        super().__init__(model)
        self._events = events

    async def next_part(self) -> StreamPart | None:
        while True:
            if self._finished:
                return self._end_of_events()
            try:
                # __anext__, not `async for`: each `async for` over an SDK stream
                # makes a new wrapper generator that would be left unclosed.
                event = await anext(self._events)
            except StopAsyncIteration:
                event = _END
            except self.sdk_errors.types as error:
                raise self.sdk_errors.translate(error, self._model) from error
            if event is _END:
                return self._end_of_events()
            part = self.on_event(event)
            if part:
                return part

    @abc.abstractmethod
    def on_event(self, event: Any) -> str | ToolProgress | None:
        """Take in one event; its text, or TOOL_PROGRESS for a tool call's."""

    async def close(self) -> None:
        await self._events.close()


class RawEventStream(_EventStream):
    """The same stream read from the SDK's raw response: SSE bytes and ``json.loads``,
    no typed event objects. The SDK still sent the request (auth, retries, status errors)."""

    def __init__(self, response: Any, model: ModelSpec) -> None:
        super().__init__(model)
        self._response = response
        # Whether the body is read from aiohttp's stream directly (see _body).
        read, self.reads_aiohttp = body_read(response.http_response)
        self._events = SSEReader(read)
        self._done = False

    async def next_part(self) -> StreamPart | None:
        while True:
            try:
                item = None if self._done else await self._events.next()
            except Exception as error:
                failed = self._read_failed(error)
                if failed is error:
                    raise
                raise failed from error
            if item is None or self.is_done_marker(item[1]):
                self._done = True
                return self._end_of_events()
            name, data = item
            try:
                part = self.on_event(name, data)
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise LLMUpstreamError(
                    model=self._model,
                    detail=f"malformed {self.what(name)}: {type(error).__name__}",
                ) from error
            if part:
                return part

    def _read_failed(self, error: Exception) -> Exception:
        """What reading the body raised, as LLMError where it is a transport error."""
        if self.reads_aiohttp:
            # Read from aiohttp directly: its errors as the SDK's transport maps them.
            error = as_httpx2_error(error)
        if isinstance(error, httpx2.HTTPError):
            return from_transport(error, self._model, describe(error))
        return error

    def is_done_marker(self, data: str) -> bool:
        """A data line that ends the stream without being an event (OpenAI's ``[DONE]``)."""
        return False

    def what(self, name: str) -> str:
        """An event named in a malformed-event error."""
        return f"{name} event"

    @abc.abstractmethod
    def on_event(self, name: str, data: str) -> str | ToolProgress | None:
        """Take in one SSE event; its text, or TOOL_PROGRESS for a tool call's."""

    async def close(self) -> None:
        await self._response.close()
