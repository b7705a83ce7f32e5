"""The one entry point of the LLM layer: :class:`LLMClient`.

It owns the SDK clients (one per configured provider), picks models, bounds
every request by its :class:`~pacer_common.llm.Deadline`, falls back to another
provider when the first fails before its first token, and leaves one usage row
and one set of metrics per attempt.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Literal, TypeVar
from uuid import UUID

from pacer_common.llm.attempt import Attempt, AttemptServices, Call
from pacer_common.llm.background import BackgroundTasks
from pacer_common.llm.budget import Deadline, to_ms
from pacer_common.llm.clock import AttemptLimits
from pacer_common.llm.errors import LLMError, LLMInvalidOutput, LLMUpstreamError
from pacer_common.llm.metrics import count_fallback
from pacer_common.llm.providers import ProviderClient, SdkTimeouts, build_provider
from pacer_common.llm.providers.base import ToolProgress
from pacer_common.llm.registry import MODEL_REGISTRY, ModelSpec, Provider
from pacer_common.llm.settings import LLMSettings
from pacer_common.llm.types import (
    Completion,
    LLMRequest,
    StreamEnd,
    StreamEvent,
    StreamStarted,
    TextDelta,
)
from pacer_common.llm.usage import UsageSink
from pacer_common.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")
Tier = Literal["free", "paid"]

# A fallback with less time than this left could not answer anyway.
MIN_FALLBACK_BUDGET_S = 0.5
# At shutdown, how long aclose() waits for usage rows still being written
# (normally none: an attempt waits for its own row before it returns).
DRAIN_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class ClientConfig:
    free_model: ModelSpec
    paid_model: ModelSpec
    fallback_order: tuple[ModelSpec, ...]
    limits: AttemptLimits

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> ClientConfig:
        default = MODEL_REGISTRY[settings.DEFAULT_MODEL]
        return cls(
            free_model=MODEL_REGISTRY[settings.MODEL_FREE] if settings.MODEL_FREE else default,
            paid_model=MODEL_REGISTRY[settings.MODEL_PAID] if settings.MODEL_PAID else default,
            fallback_order=tuple(MODEL_REGISTRY[code] for code in settings.LLM_FALLBACK_ORDER),
            limits=AttemptLimits(
                first_token_s=settings.LLM_FIRST_TOKEN_TIMEOUT_SECONDS,
                idle_s=settings.LLM_IDLE_TIMEOUT_SECONDS,
                connect_s=settings.LLM_CONNECT_TIMEOUT_SECONDS,
                sdk_s=settings.LLM_SDK_TIMEOUT_SECONDS,
            ),
        )


class LLMClient:
    """Streamed and whole answers from Anthropic or OpenAI, with deadlines and fallback.

    Open it in the lifespan, close it on the way out::

        llm = LLMClient.from_settings(settings, usage_sink=PostgresUsageSink(pool))
        async with contextlib.aclosing(
            llm.stream(request, deadline=Deadline.after(120), user_id=uid, purpose="coach_chat")
        ) as events:
            async for event in events:
                ...  # StreamStarted, then TextDelta..., then StreamEnd; or an LLMError
        await llm.aclose()
    """

    def __init__(
        self,
        providers: Mapping[Provider, ProviderClient],
        config: ClientConfig,
        usage_sink: UsageSink | None = None,
    ) -> None:
        self._providers = dict(providers)
        self._config = config
        self._background = BackgroundTasks()
        self._services = AttemptServices(config.limits, usage_sink, self._background)

    @classmethod
    def from_settings(cls, settings: LLMSettings, usage_sink: UsageSink | None = None) -> LLMClient:
        """One SDK client per configured provider, with explicit retries and timeouts."""
        timeouts = SdkTimeouts(
            connect_s=settings.LLM_CONNECT_TIMEOUT_SECONDS,
            read_s=settings.LLM_IDLE_TIMEOUT_SECONDS,
            other_s=settings.LLM_SDK_TIMEOUT_SECONDS,
        )
        keys = {"anthropic": settings.ANTHROPIC_API_KEY, "openai": settings.OPENAI_API_KEY}
        urls = {"anthropic": settings.ANTHROPIC_BASE_URL, "openai": settings.OPENAI_BASE_URL}
        providers: dict[Provider, ProviderClient] = {}
        for name in settings.configured_providers():
            key = keys[name]
            providers[name] = build_provider(
                name,
                api_key=key.get_secret_value() if key is not None else None,
                base_url=urls[name],
                max_retries=settings.LLM_SDK_MAX_RETRIES,
                timeouts=timeouts,
                raw_stream=settings.LLM_RAW_STREAM,
                http_client=settings.LLM_HTTP_CLIENT,
            )
        return cls(providers, ClientConfig.from_settings(settings), usage_sink)

    async def aclose(self, drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Let usage rows still being written finish, then close the SDK clients.

        Call it before closing whatever the usage sink writes to (the pool).
        """
        await self._background.drain(drain_timeout_s)
        for provider in self._providers.values():
            await provider.aclose()

    # -- models ----------------------------------------------------------------

    def model_for(self, tier: Tier) -> ModelSpec:
        return self._config.paid_model if tier == "paid" else self._config.free_model

    # -- calls -----------------------------------------------------------------

    async def stream(
        self,
        request: LLMRequest,
        *,
        deadline: Deadline,
        user_id: UUID | None,
        purpose: str,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream an answer: StreamStarted, TextDelta..., ToolCall..., StreamEnd. Raises LLMError.

        Falls back to another provider only before the first token; after it,
        any failure raises (the caller keeps the text it already has). When the
        consumer stops (its task cancelled, or this generator closed) the SDK
        stream is closed at once and a "cancelled" usage row is written.

        With ``request.tools`` a round may call tools: each ToolCall is yielded
        once its arguments are complete (after the round's text), and StreamEnd
        says "tool_use". The round is one attempt under the same clocks: the
        first token is the first output of the model, a text delta *or the
        opening of a tool call* (its name, before any argument); from then on
        the idle gap bounds every wait, argument fragments included, and a
        failure raises instead of falling back (a fallback would call other
        tools under other ids). StreamStarted comes right after that first
        token, so a round that is all tool calls yields it before the calls.
        One call of ``stream`` is one round: the caller runs the tools and
        calls again with a ToolCallTurn and a ToolResultTurn appended, under
        whatever is left of its Deadline.
        """
        call = Call(request, deadline, user_id, purpose, time.monotonic())
        # The attempt's exit records its outcome: "ok", or "cancelled" on
        # GeneratorExit (closed at a yield) and CancelledError (cancelled in an
        # await), both of which mean the consumer is gone.
        async with AsyncExitStack() as open_attempt:
            attempt, first = await self._first_answer(call, Attempt.first_part, open_attempt)
            yield StreamStarted(attempt.model, attempt.fallback)
            part = await attempt.next_part() if isinstance(first, ToolProgress) else first
            while part is not None:
                yield TextDelta(part) if isinstance(part, str) else part
                part = await attempt.next_part()
        first_token_s = attempt.first_token_s
        yield StreamEnd(
            model=attempt.model,
            input_tokens=attempt.input_tokens,
            output_tokens=attempt.output_tokens,
            finish_reason=attempt.finish_reason,
            ttft_ms=None if first_token_s is None else to_ms(first_token_s - call.started_s),
            duration_ms=to_ms(time.monotonic() - call.started_s),
        )

    async def complete(
        self,
        request: LLMRequest,
        *,
        deadline: Deadline,
        user_id: UUID | None,
        purpose: str,
        fallback: bool = True,
    ) -> Completion:
        """A whole answer, not streamed; same deadlines, fallback and usage rows as stream().

        ``fallback=False``: only ``request.model`` may answer (a model an admin
        chose on purpose, whose caller retries on its own). With
        ``request.output_schema`` the Completion's ``structured`` is the parsed
        answer, or LLMInvalidOutput is raised (missing, cut off at max_tokens,
        not a JSON object); the caller still validates it against the schema.
        """
        call = Call(request, deadline, user_id, purpose, time.monotonic())
        async with AsyncExitStack() as open_attempt:
            attempt, reply = await self._first_answer(
                call, Attempt.complete, open_attempt, fallback=fallback
            )
        if request.output_schema is not None and reply.structured is None:
            # After the attempt: it answered (and was paid for), just not as asked.
            raise LLMInvalidOutput(
                model=attempt.model,
                detail=reply.structured_error or "no structured answer",
                output=reply.text,
                finish_reason=reply.finish_reason,
            )
        return Completion(
            text=reply.text,
            model=attempt.model,
            input_tokens=attempt.input_tokens,
            output_tokens=attempt.output_tokens,
            finish_reason=reply.finish_reason,
            fallback_used=attempt.fallback,
            structured=reply.structured,
            tool_calls=reply.tool_calls,
        )

    async def _first_answer(
        self,
        call: Call,
        begin: Callable[[Attempt], Awaitable[T]],
        open_attempt: AsyncExitStack,
        *,
        fallback: bool = True,
    ) -> tuple[Attempt, T]:
        """Run ``begin`` on the request's model and, if it fails retryably, once on a fallback.

        A failed attempt is closed here; the one that answered is left open on
        ``open_attempt``, so that its outcome is how the caller's block ends.
        """
        attempt = self._attempt(call, call.request.model, fallback=False)
        try:
            return attempt, await _begin(attempt, begin, open_attempt)
        except LLMError as error:
            other = self._fallback_for(error, attempt.model, call.deadline) if fallback else None
            if other is None:
                raise
            reason = error.code  # `error` is unbound once the except block ends
        count_fallback(attempt.model.provider, other.provider)
        log.warning(
            "llm_fallback",
            from_model=attempt.model.code,
            to_model=other.code,
            reason=reason,
            purpose=call.purpose,
        )
        attempt = self._attempt(call, other, fallback=True)
        return attempt, await _begin(attempt, begin, open_attempt)

    def _attempt(self, call: Call, model: ModelSpec, *, fallback: bool) -> Attempt:
        provider = self._providers.get(model.provider)
        if provider is None:
            # Settings refuse such a model at start-up; only a hand-built request gets here.
            raise LLMUpstreamError(
                model=model, retryable=False, detail=f"provider {model.provider} not configured"
            )
        return Attempt(provider, model, call, self._services, fallback=fallback)

    def _fallback_for(
        self, error: LLMError, failed: ModelSpec, deadline: Deadline
    ) -> ModelSpec | None:
        """The first model of the fallback order on another (configured) provider, if it may run."""
        if not error.retryable or deadline.remaining() < MIN_FALLBACK_BUDGET_S:
            return None
        for spec in self._config.fallback_order:
            if spec.provider != failed.provider and spec.provider in self._providers:
                return spec
        return None


async def _begin(
    attempt: Attempt, begin: Callable[[Attempt], Awaitable[T]], open_attempt: AsyncExitStack
) -> T:
    """``begin(attempt)`` inside the attempt; on success the attempt stays open on ``open_attempt``."""
    async with AsyncExitStack() as inner:
        await inner.enter_async_context(attempt)
        first = await begin(attempt)
        # Hand the open attempt to the caller's stack (the exit-stack idiom for
        # "close it here only if what follows fails").
        open_attempt.push_async_exit(inner.pop_all())
        return first
