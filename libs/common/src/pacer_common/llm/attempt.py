"""One try of one model for one request: its clocks, its SDK stream, its usage row.

A request makes one attempt, or two when the first fails before its first token
and a fallback answers. Every wait of an attempt is bounded, one ``await`` at a
time, by the tightest of:

- what is left of the request's :class:`~pacer_common.llm.Deadline`;
- before the first token, the first-token deadline (counted from the attempt's start);
- after it, the idle gap allowed between two tokens.

The bound wraps each await and is never held across a ``yield``. While text
streams, it is one timer per attempt, not a timeout object per token: each wait
moves the expiry forward, and the timer, when it fires, re-arms itself for the
expiry if that moved, or cancels the wait (then LLMTimeout) if it passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID

from pacer_common.llm.background import BackgroundTasks
from pacer_common.llm.budget import Deadline, to_ms
from pacer_common.llm.errors import LLMError, LLMTimeout, LLMUpstreamError
from pacer_common.llm.metrics import observe_attempt
from pacer_common.llm.providers.base import (
    ProviderClient,
    ProviderReply,
    ProviderStream,
    SdkTimeouts,
)
from pacer_common.llm.registry import ModelSpec
from pacer_common.llm.types import LLMRequest
from pacer_common.llm.usage import Outcome, UsageRecord, UsageSink, write_usage
from pacer_common.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")

# How long finishing an attempt (closing its stream, writing its row) may hold
# up the caller; past it the work goes on in the background.
FINISH_WAIT_S = 2.0

_OUTCOMES: dict[str, Outcome] = {
    "timeout": "timeout",
    "overloaded": "overloaded",
    "upstream_error": "upstream_error",
}


@dataclass(frozen=True)
class AttemptLimits:
    first_token_s: float
    idle_s: float
    connect_s: float
    sdk_s: float


@dataclass(frozen=True)
class Call:
    """What every attempt of one request shares."""

    request: LLMRequest
    deadline: Deadline
    user_id: UUID | None
    purpose: str
    started_s: float


@dataclass(frozen=True)
class AttemptServices:
    limits: AttemptLimits
    usage_sink: UsageSink | None
    background: BackgroundTasks


def outcome_of(error: BaseException) -> Outcome:
    if isinstance(error, LLMError):
        return _OUTCOMES.get(error.code, "upstream_error")
    if isinstance(error, Exception):
        return "upstream_error"
    # CancelledError, GeneratorExit: the consumer went away.
    return "cancelled"


class Attempt:
    """Use it as ``async with attempt:``: its exit records the outcome, once."""

    def __init__(
        self,
        provider: ProviderClient,
        model: ModelSpec,
        call: Call,
        services: AttemptServices,
        *,
        fallback: bool,
    ) -> None:
        self.model = model
        self.fallback = fallback
        self._provider = provider
        self._call = call
        self._services = services
        self._started_s = time.monotonic()
        self.first_token_s: float | None = None
        self._deltas = 0
        self._stream: ProviderStream | None = None
        self._reply: ProviderReply | None = None
        # The streaming bound (see _watched): when the current wait expires, the
        # task waiting (None between waits), and whether the timer cancelled it.
        self._expires_at = 0.0
        self._waiting: asyncio.Task[Any] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._expired = False

    # -- the steps -----------------------------------------------------------

    async def first_text(self) -> str | None:
        """Send a streamed request and wait for its first text; None if the answer is empty."""
        self._stream = await self._bounded(
            self._provider.open_stream(self._call.request, self.model, self._sdk_timeouts())
        )
        return await self.next_text()

    async def next_text(self) -> str | None:
        """The next text delta; None once the answer is complete."""
        assert self._stream is not None, "first_text() opens the stream"
        text = await self._watched(self._stream.next_text())
        if text is not None:
            self._deltas += 1
            if self.first_token_s is None:
                self.first_token_s = time.monotonic()
        return text

    async def complete(self) -> ProviderReply:
        """Send a whole-answer request; the first-token deadline covers the whole answer."""
        self._reply = await self._bounded(
            self._provider.complete(self._call.request, self.model, self._sdk_timeouts())
        )
        return self._reply

    # -- what it used ----------------------------------------------------------

    def _counted(self) -> tuple[int | None, int | None]:
        """The provider's own (input, output) counts, None where it has not sent one."""
        if self._stream is not None:
            return self._stream.input_tokens, self._stream.output_tokens
        if self._reply is not None:
            return self._reply.input_tokens, self._reply.output_tokens
        return None, None

    @property
    def input_tokens(self) -> int:
        # 0 when the provider never said (an OpenAI stream cut before its usage
        # chunk, a request refused with 429).
        return self._counted()[0] or 0

    @property
    def output_tokens(self) -> int:
        counted = self._counted()[1]
        # A stream cut short (cancelled, dropped, timed out) rarely carries the
        # provider's count: the number of text deltas received stands in for it.
        # A delta is about one token (exactly one word in the simulator).
        return counted if counted is not None else self._deltas

    @property
    def finish_reason(self) -> str:
        if self._reply is not None:
            return self._reply.finish_reason
        if self._stream is not None and self._stream.finish_reason is not None:
            return self._stream.finish_reason
        return "unknown"

    # -- the end -----------------------------------------------------------

    async def __aenter__(self) -> Attempt:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the SDK stream, count the attempt and write its usage row.

        The outcome is how the block ended: ``ok``, or what its error means
        (GeneratorExit and CancelledError: the consumer went away). Metrics are
        counted synchronously; closing and writing run in a task of their own
        that a cancelled caller cannot interrupt (and does not wait on past
        FINISH_WAIT_S). The error, if any, propagates.
        """
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        record = self._record("ok" if error is None else outcome_of(error))
        observe_attempt(record)
        self._log(record, error)
        task = self._services.background.spawn(
            self._close_and_write(self._stream, record), name=f"llm-finish-{self.model.code}"
        )
        # asyncio.wait never cancels the task it waits on: if this caller is
        # cancelled again right here, the stream still closes and the row is written.
        await asyncio.wait({task}, timeout=FINISH_WAIT_S)

    async def _close_and_write(self, stream: ProviderStream | None, record: UsageRecord) -> None:
        if stream is not None:
            try:
                # The provider sees the connection close and stops generating (and billing).
                await stream.close()
            except Exception:
                log.exception("llm_stream_close_failed", provider=self.model.provider)
        await write_usage(self._services.usage_sink, record)

    def _record(self, outcome: Outcome) -> UsageRecord:
        now = time.monotonic()
        input_tokens, output_tokens = self.input_tokens, self.output_tokens
        ttft_s = None if self.first_token_s is None else self.first_token_s - self._started_s
        return UsageRecord(
            user_id=self._call.user_id,
            purpose=self._call.purpose,
            provider=self.model.provider,
            model_code=self.model.code,
            model_id=self.model.model_id,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=self.model.cost_usd(input_tokens, output_tokens),
            ttft_ms=None if ttft_s is None else to_ms(ttft_s),
            duration_ms=to_ms(now - self._started_s),
            outcome=outcome,
            fallback=self.fallback,
        )

    def _log(self, record: UsageRecord, error: BaseException | None) -> None:
        fields: dict[str, Any] = {
            "provider": record.provider,
            "model": record.model_code,
            "purpose": record.purpose,
            "outcome": record.outcome,
            "fallback": record.fallback,
            "duration_ms": record.duration_ms,
            "ttft_ms": record.ttft_ms,
            "output_tokens": record.output_tokens,
        }
        if record.outcome == "ok":
            log.info("llm_attempt_ok", **fields)
        elif record.outcome == "cancelled":
            log.info("llm_attempt_cancelled", **fields)
        else:
            detail = error.detail if isinstance(error, LLMError) else repr(type(error).__name__)
            log.warning("llm_attempt_failed", detail=detail, **fields)

    # -- bounds --------------------------------------------------------------

    def _window(self) -> tuple[float, str]:
        """How long the next wait may last, and which limit that is."""
        left = self._call.deadline.remaining()
        if self.first_token_s is None:
            own = self._started_s + self._services.limits.first_token_s - time.monotonic()
            limit = "first_token"
        else:
            own = self._services.limits.idle_s
            limit = "idle"
        if left <= own:
            return left, "deadline"
        return max(0.0, own), limit

    def _sdk_timeouts(self) -> SdkTimeouts:
        """The SDK's own per-phase timeouts: a backstop behind the asyncio bound,
        each capped by what is left of the deadline."""
        limits, left = self._services.limits, self._call.deadline.remaining()
        # A read may legitimately wait for the first token, so never less than that.
        read_s = max(limits.idle_s, limits.first_token_s)
        return SdkTimeouts(
            connect_s=min(limits.connect_s, limits.sdk_s, left),
            read_s=min(read_s, left),
            other_s=min(limits.sdk_s, left),
        )

    async def _bounded(self, step: Coroutine[Any, Any, T]) -> T:
        window_s, limit = self._window()
        if window_s <= 0:
            step.close()
            raise LLMTimeout(model=self.model, detail=f"{limit} budget spent")
        try:
            async with asyncio.timeout(window_s):
                return await step
        except TimeoutError:
            raise LLMTimeout(
                model=self.model, detail=f"{limit} timeout after {window_s:.2f} s"
            ) from None
        except LLMError:
            raise
        except Exception as error:
            # A provider module let something through: still an LLMError for the caller.
            log.exception("llm_unexpected_error", provider=self.model.provider)
            raise LLMUpstreamError(model=self.model, detail=type(error).__name__) from error

    async def _watched(self, step: Coroutine[Any, Any, T]) -> T:
        """``_bounded`` for the stream's many short waits: the same bounds and errors,
        checked by one lazily moved timer instead of an ``asyncio.timeout`` per token."""
        window_s, limit = self._window()
        if window_s <= 0:
            step.close()
            raise LLMTimeout(model=self.model, detail=f"{limit} budget spent")
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self._expires_at = loop.time() + window_s
        if self._watchdog is None or self._watchdog.when() > self._expires_at:
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._watchdog = loop.call_at(self._expires_at, self._on_watchdog)
        self._waiting, self._expired = task, False
        cancelling = task.cancelling()
        try:
            return await step
        except asyncio.CancelledError:
            # Ours only if the timer cancelled this wait and nobody else cancelled the task.
            if self._expired and task.uncancel() <= cancelling:
                raise LLMTimeout(
                    model=self.model, detail=f"{limit} timeout after {window_s:.2f} s"
                ) from None
            raise
        except LLMError:
            raise
        except Exception as error:
            log.exception("llm_unexpected_error", provider=self.model.provider)
            raise LLMUpstreamError(model=self.model, detail=type(error).__name__) from error
        finally:
            self._waiting = None

    def _on_watchdog(self) -> None:
        self._watchdog = None
        if self._waiting is None:
            return  # between waits: the next wait arms the timer again
        loop = asyncio.get_running_loop()
        if loop.time() >= self._expires_at:
            self._expired = True
            self._waiting.cancel()
        else:
            self._watchdog = loop.call_at(self._expires_at, self._on_watchdog)
