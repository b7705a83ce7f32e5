"""Prometheus metrics shared by every service, served on an internal port.

The metrics port is separate from the API port so that the proxy, which only
knows the API port, can never expose it. When a service runs several hypercorn
workers, set ``PROMETHEUS_MULTIPROC_DIR``: every worker writes its samples
there and whichever worker binds the port first serves the aggregate.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from pacer_common.logs import get_logger

log = get_logger(__name__)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests served, by route template and status (499: the client went away first).",
    ["method", "route", "status"],
)
# nginx's "client closed request": the status label of a request whose client
# disconnected before any response began. Not a 5xx, so the error-rate alert
# (deploy/alerts.yml, status=~"5..") never counts a client's aborted upload.
CLIENT_CLOSED_REQUEST_STATUS = 499
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency, by route template and status.",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
EVENT_LOOP_LAG = Gauge(
    "event_loop_lag_seconds",
    "How late the last 0.25 s timer fired: a blocked event loop is what froze the seed's API.",
    multiprocess_mode="max",
)
# No route label: shedding happens before routing (the template is not known
# yet), and a raw path would be one series per id. job and instance say where.
REQUESTS_SHED = Counter(
    "requests_shed",
    "New requests refused with 503 overloaded because the event loop stayed late.",
)

# Short enough that shedding starts and stops within about a second of the
# loop's state changing; one timer wake-up each, so four a second cost nothing.
LOOP_LAG_INTERVAL_S = 0.25


def start_metrics_server(host: str, port: int) -> tuple[WSGIServer, threading.Thread] | None:
    """Serve /metrics on (host, port) from a daemon thread; None if a sibling worker has it."""
    registry: CollectorRegistry | None = None
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    try:
        if registry is None:
            return start_http_server(port, addr=host)
        return start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        if error.errno != errno.EADDRINUSE or registry is None:
            raise
        log.info("metrics_port_served_by_sibling_worker", port=port)
        return None


def stop_metrics_server(handle: tuple[WSGIServer, threading.Thread] | None) -> None:
    if handle is not None:
        server, thread = handle
        server.shutdown()
        server.server_close()
        thread.join(timeout=2)


async def sample_event_loop_lag(
    on_sample: Callable[[float], None] | None = None, interval_s: float = LOOP_LAG_INTERVAL_S
) -> None:
    """Run forever: set the lag gauge from how late a fixed sleep wakes up, and
    hand each reading to ``on_sample`` (load shedding decides from them)."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval_s)
        lag_s = max(0.0, loop.time() - started - interval_s)
        EVENT_LOOP_LAG.set(lag_s)
        if on_sample is not None:
            on_sample(lag_s)
