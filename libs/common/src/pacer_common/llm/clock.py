"""An attempt's clocks: every wait of one attempt bounded, one ``await`` at a time.

The bound is the tightest of:

- what is left of the request's :class:`~pacer_common.llm.Deadline`;
- before the first token, the first-token deadline (counted from the attempt's start);
- after it, the idle gap allowed between two tokens.

The first token is the first output of the model: a text delta, or the opening
of a tool call (its name, before its arguments); every later argument fragment
is a token for the idle gap, so a stream that stalls mid-call times out like
one that stalls mid-sentence.

The bound wraps each await and is never held across a ``yield``. While a stream
runs, it is one timer per attempt, not a timeout object per token: each wait
moves the expiry forward, and the timer, when it fires, re-arms itself for the
expiry if that moved, or cancels the wait (then LLMTimeout) if it passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from pacer_common.llm.budget import Deadline
from pacer_common.llm.errors import LLMError, LLMTimeout, LLMUpstreamError
from pacer_common.llm.providers.base import SdkTimeouts
from pacer_common.llm.registry import ModelSpec
from pacer_common.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")

# How long after the asyncio bound the SDK's own read timeout may fire (see sdk_timeouts).
SDK_BACKSTOP_MARGIN_S = 0.25


@dataclass(frozen=True)
class AttemptLimits:
    first_token_s: float
    idle_s: float
    connect_s: float
    sdk_s: float


class AttemptClock:
    """The bounds of one attempt's waits; ``first_token_s`` (monotonic) once the
    model's first output came (:meth:`token`)."""

    def __init__(self, limits: AttemptLimits, deadline: Deadline, model: ModelSpec) -> None:
        self._limits = limits
        self._deadline = deadline
        self._model = model
        self.started_s = time.monotonic()
        self.first_token_s: float | None = None
        # The streaming bound (see watched): when the current wait expires, the
        # task waiting (None between waits), and whether the timer cancelled it.
        self._expires_at = 0.0
        self._waiting: asyncio.Task[Any] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._expired = False

    def token(self) -> None:
        """The model sent output: the first one ends the first-token wait."""
        if self.first_token_s is None:
            self.first_token_s = time.monotonic()

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def window(self) -> tuple[float, str]:
        """How long the next wait may last, and which limit that is."""
        left = self._deadline.remaining()
        if self.first_token_s is None:
            own = self.started_s + self._limits.first_token_s - time.monotonic()
            limit = "first_token"
        else:
            own = self._limits.idle_s
            limit = "idle"
        if left <= own:
            return left, "deadline"
        return max(0.0, own), limit

    def sdk_timeouts(self) -> SdkTimeouts:
        """The SDK's own per-phase timeouts: a backstop behind the asyncio bound,
        each capped by what is left of the deadline."""
        limits, left = self._limits, self._deadline.remaining()
        # A read may legitimately wait for the first token, so never less than that. It
        # stays a backstop: with the bound's own length the SDK's read timeout could win the
        # race (aiohttp's fires to the millisecond) and a stall would read "ReadTimeout"
        # instead of naming its limit, so the backstop comes a little after the bound.
        read_s = min(max(limits.idle_s, limits.first_token_s), left) + SDK_BACKSTOP_MARGIN_S
        return SdkTimeouts(
            connect_s=min(limits.connect_s, limits.sdk_s, left),
            read_s=read_s,
            other_s=min(limits.sdk_s, left),
        )

    async def bounded(self, step: Coroutine[Any, Any, T]) -> T:
        window_s, limit = self.window()
        if window_s <= 0:
            step.close()
            raise LLMTimeout(model=self._model, detail=f"{limit} budget spent")
        try:
            async with asyncio.timeout(window_s):
                return await step
        except TimeoutError:
            raise LLMTimeout(
                model=self._model, detail=f"{limit} timeout after {window_s:.2f} s"
            ) from None
        except LLMError:
            raise
        except Exception as error:
            raise self._unexpected(error) from error

    async def watched(self, step: Coroutine[Any, Any, T]) -> T:
        """``bounded`` for the stream's many short waits: the same bounds and errors,
        checked by one lazily moved timer instead of an ``asyncio.timeout`` per token."""
        window_s, limit = self.window()
        if window_s <= 0:
            step.close()
            raise LLMTimeout(model=self._model, detail=f"{limit} budget spent")
        task = asyncio.current_task()
        assert task is not None
        self._arm(window_s)
        self._waiting, self._expired = task, False
        cancelling = task.cancelling()
        try:
            return await step
        except asyncio.CancelledError:
            # Ours only if the timer cancelled this wait and nobody else cancelled the task.
            if self._expired and task.uncancel() <= cancelling:
                raise LLMTimeout(
                    model=self._model, detail=f"{limit} timeout after {window_s:.2f} s"
                ) from None
            raise
        except LLMError:
            raise
        except Exception as error:
            raise self._unexpected(error) from error
        finally:
            self._waiting = None

    def _unexpected(self, error: Exception) -> LLMError:
        # A provider module let something through: still an LLMError for the caller.
        log.exception("llm_unexpected_error", provider=self._model.provider)
        return LLMUpstreamError(model=self._model, detail=type(error).__name__)

    def _arm(self, window_s: float) -> None:
        loop = asyncio.get_running_loop()
        self._expires_at = loop.time() + window_s
        if self._watchdog is None or self._watchdog.when() > self._expires_at:
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._watchdog = loop.call_at(self._expires_at, self._on_watchdog)

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
