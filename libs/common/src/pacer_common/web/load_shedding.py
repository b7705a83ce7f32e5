"""Load shedding: while the event loop stays late, refuse new requests at the door.

A loop that is late for every timer has more work than CPU: a request let in
now waits behind all the others and makes them later still. A 503
``overloaded`` with ``Retry-After``, sent before routing, auth or any database
call, costs a few microseconds and leaves the loop to the requests and streams
already admitted.

How late the loop is comes from one sampler per app, started and stopped with
the app's lifespan (:func:`pacer_common.metrics.sample_event_loop_lag`, which
also sets ``event_loop_lag_seconds``): a timer every 0.25 s and how late it
fired. The app sheds while each of the last ``samples`` readings is over
``threshold_s`` (:func:`should_shed`) and stops at the first reading under it.
Several readings in a row, so that one slow callback (a GC pause, a big JSON
body) never sheds; one good reading to stop, so that recovery is a quarter of a
second away rather than a whole window.

Never shed (:data:`NEVER_SHED_PATHS`): liveness and readiness, and the worker's
``/metrics``. An overloaded replica must still look alive to Docker and ready
to Caddy: failing the probes of every busy replica at once would turn
overload into an outage. The scrape is how Prometheus sees the shedding and the
lag. (core-api's and the coach's metrics are on their own port and thread and
never come through here.)

Only the start of a request is looked at and ``send`` is never wrapped: a
stream admitted before the loop got late flows on untouched, at no cost per
event.

    Middleware(LoadSheddingMiddleware, policy=ShedPolicy(threshold_s=0.25, samples=4))
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from pacer_common.errors import Overloaded
from pacer_common.logs import get_logger
from pacer_common.metrics import REQUESTS_SHED, sample_event_loop_lag
from pacer_common.web.error_handlers import error_response

log = get_logger(__name__)

NEVER_SHED_PATHS = frozenset({"/health", "/health/ready", "/metrics"})
# Shedding stops within a reading or two of the loop catching up: a client told
# to wait 2 s finds it open again, and a retry storm is spread over 2 s, not 0.
SHED_RETRY_AFTER_S = 2


@dataclass(frozen=True)
class ShedPolicy:
    """Shed while the last ``samples`` lag readings are all over ``threshold_s``."""

    threshold_s: float
    samples: int

    def __post_init__(self) -> None:
        # The settings bound these too; this guards a policy built in code.
        if not self.threshold_s > 0:
            raise ValueError(f"threshold_s must be positive, got {self.threshold_s}")
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")


def should_shed(recent_lags_s: Sequence[float], policy: ShedPolicy) -> bool:
    """True when the last ``policy.samples`` readings (oldest first) all exceed the threshold.

    >>> should_shed([0.3, 0.4, 0.5], ShedPolicy(threshold_s=0.25, samples=3))
    True
    >>> should_shed([0.3, 0.1, 0.5], ShedPolicy(threshold_s=0.25, samples=3))
    False
    """
    if len(recent_lags_s) < policy.samples:
        return False
    last = itertools.islice(reversed(recent_lags_s), policy.samples)
    return all(lag_s > policy.threshold_s for lag_s in last)


class LoopLag:
    """The last readings of one loop's lag and whether to shed; fed by the sampler."""

    def __init__(self, policy: ShedPolicy) -> None:
        self.policy = policy
        self._recent: deque[float] = deque(maxlen=policy.samples)
        # Read on every request: a plain attribute, decided once per reading.
        self.shedding = False
        self.shed_since_start = 0

    def record(self, lag_s: float) -> None:
        self._recent.append(lag_s)
        shedding = should_shed(self._recent, self.policy)
        if shedding and not self.shedding:
            self.shed_since_start = 0
            log.warning(
                "load_shedding_started",
                loop_lag_s=round(lag_s, 3),
                threshold_s=self.policy.threshold_s,
                samples=self.policy.samples,
            )
        elif self.shedding and not shedding:
            # One line per episode, not one per refused request: under overload,
            # a log line each would be more of the work being shed.
            log.warning(
                "load_shedding_stopped", loop_lag_s=round(lag_s, 3), shed=self.shed_since_start
            )
        self.shedding = shedding

    def reset(self) -> None:
        self._recent.clear()
        self.shedding = False


class LoadSheddingMiddleware:
    """Outermost: a shed request costs one attribute read and a pre-rendered 503."""

    def __init__(
        self, app: ASGIApp, policy: ShedPolicy, never_shed: frozenset[str] = NEVER_SHED_PATHS
    ) -> None:
        self.app = app
        self.lag = LoopLag(policy)
        self._never_shed = never_shed
        # Rendered once by the error handlers' own function: the same shape and
        # Retry-After as every other 503. A Response keeps no per-call state.
        self._refusal = error_response(Overloaded(retry_after_s=SHED_RETRY_AFTER_S))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.lag.shedding and scope["path"] not in self._never_shed:
                REQUESTS_SHED.inc()
                self.lag.shed_since_start += 1
                await self._refusal(scope, receive, send)
                return
        elif scope["type"] == "lifespan":
            await self._with_sampler(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _with_sampler(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The lifespan call lasts as long as the app runs: the sampler lives
        # exactly as long, in the app's own loop.
        self.lag.reset()
        sampler = asyncio.create_task(sample_event_loop_lag(self.lag.record), name="event-loop-lag")
        try:
            await self.app(scope, receive, send)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            self.lag.reset()
