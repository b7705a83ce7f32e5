"""One try of one model for one request: its SDK stream, its counts, its usage row.

A request makes one attempt, or two when the first fails before its first token
and a fallback answers. Every wait of an attempt is bounded by its
:class:`~pacer_common.llm.clock.AttemptClock` (the deadline, the first-token
deadline, the idle gap; a tool call's opening and argument fragments are tokens).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from uuid import UUID

from pacer_common.llm.background import BackgroundTasks
from pacer_common.llm.budget import Deadline, to_ms
from pacer_common.llm.clock import AttemptClock, AttemptLimits
from pacer_common.llm.errors import LLMError
from pacer_common.llm.metrics import observe_attempt
from pacer_common.llm.providers.base import (
    ProviderClient,
    ProviderReply,
    ProviderStream,
    StreamPart,
    ToolProgress,
)
from pacer_common.llm.registry import ModelSpec
from pacer_common.llm.types import LLMRequest, ToolCall
from pacer_common.llm.usage import Outcome, UsageRecord, UsageSink, write_usage
from pacer_common.logs import get_logger

log = get_logger(__name__)

# How long finishing an attempt (closing its stream, writing its row) may hold
# up the caller; past it the work goes on in the background.
FINISH_WAIT_S = 2.0

_OUTCOMES: dict[str, Outcome] = {
    "timeout": "timeout",
    "overloaded": "overloaded",
    "upstream_error": "upstream_error",
}


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
        self._clock = AttemptClock(services.limits, call.deadline, model)
        self._deltas = 0
        self._stream: ProviderStream | None = None
        self._reply: ProviderReply | None = None

    @property
    def first_token_s(self) -> float | None:
        return self._clock.first_token_s

    # -- the steps -----------------------------------------------------------

    async def first_part(self) -> StreamPart | None:
        """Send a streamed request and wait for the model's first output: text,
        or TOOL_PROGRESS when the round opens with a tool call (the first token
        either way: from here on no fallback); None if the answer is empty."""
        self._stream = await self._clock.bounded(
            self._provider.open_stream(self._call.request, self.model, self._clock.sdk_timeouts())
        )
        return await self._next(progress=True)

    async def next_part(self) -> str | ToolCall | None:
        """The next text delta or complete tool call; None once the answer is complete."""
        part = await self._next(progress=False)
        assert not isinstance(part, ToolProgress)
        return part

    async def _next(self, *, progress: bool) -> StreamPart | None:
        assert self._stream is not None, "first_part() opens the stream"
        while True:
            part = await self._clock.watched(self._stream.next_part())
            if part is None or isinstance(part, ToolCall):
                return part
            # Text or a tool call's progress: a token for the clocks and the count.
            self._deltas += 1
            self._clock.token()
            if progress or not isinstance(part, ToolProgress):
                return part

    async def complete(self) -> ProviderReply:
        """Send a whole-answer request; the first-token deadline covers the whole answer."""
        self._reply = await self._clock.bounded(
            self._provider.complete(self._call.request, self.model, self._clock.sdk_timeouts())
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
        # provider's count: the number of deltas received (text, tool call
        # openings and argument fragments) stands in for it. A delta is about
        # one token (exactly one word or fragment in the simulator).
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
        self._clock.stop()
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
        now, started_s = time.monotonic(), self._clock.started_s
        input_tokens, output_tokens = self.input_tokens, self.output_tokens
        ttft_s = None if self.first_token_s is None else self.first_token_s - started_s
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
            duration_ms=to_ms(now - started_s),
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
