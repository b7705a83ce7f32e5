"""The worker's internal HTTP port: /health for the supervisor and the
container's health check, /metrics for Prometheus."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pacer_briefing_worker.reaper import Reaper
from pacer_common.web.load_shedding import LoadSheddingMiddleware, ShedPolicy


def health_app(
    reaper: Reaper,
    interval_s: float,
    arq_health: Callable[[], Awaitable[str | None]],
    shed_policy: ShedPolicy,
) -> Starlette:
    started_s = time.monotonic()

    async def health(request: Request) -> JSONResponse:
        # Healthy while the reaper keeps its rhythm: it needs the event loop,
        # Postgres and Redis, so a frozen worker shows here.
        now = time.monotonic()
        since = None if reaper.last_run_s is None else now - reaper.last_run_s
        grace_s = 3 * interval_s + 10
        healthy = (since is not None and since <= grace_s) or (
            since is None and now - started_s <= grace_s
        )
        body: dict[str, Any] = {
            "status": "ok" if healthy else "unhealthy",
            "reaper_last_run_seconds_ago": None if since is None else round(since, 1),
        }
        try:
            # arq's own line: "<time> j_complete=… j_failed=… j_retried=… j_ongoing=… queued=…".
            body["arq"] = await arq_health()
        except Exception:  # Redis away: the reaper's rhythm above already tells
            body["arq"] = None
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # The load shedding also runs the loop-lag sampler (event_loop_lag_seconds)
    # for the whole worker: arq's jobs share this loop.
    return Starlette(
        routes=[Route("/health", health), Route("/metrics", metrics)],
        middleware=[Middleware(LoadSheddingMiddleware, policy=shed_policy)],
    )
