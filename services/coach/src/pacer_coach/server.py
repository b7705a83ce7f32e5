"""Serve the coach with hypercorn, draining open streams on SIGTERM before the server stops.

Shutdown, in order:

1. SIGTERM (or ``stop``) fires the shutdown trigger, which drains the streams:
   new chats get 503 ``shutting_down``, every open stream stores its reply
   (``partial`` with the text its client was sent, or ``failed``) and sends
   ``error: shutdown`` and ``done``; up to ``COACH_DRAIN_SECONDS``. The
   notification streams (``GET /v1/coach/events``) end at once, not drained:
   they hold nothing to store, and their clients resume with ``Last-Event-ID``.
2. The trigger returns; hypercorn stops listening and gives the connections
   left up to ``COACH_GRACEFUL_TIMEOUT_SECONDS`` before cutting them.
3. Only then the lifespan's shutdown runs (:mod:`pacer_coach.lifespan`) and
   closes the LLM client and the pool: too late to store anything, so the
   drain has to happen in step 1, here.
"""

from __future__ import annotations

import asyncio
import signal

import redis.asyncio as redis
from hypercorn.asyncio import serve

from pacer_coach.app import create_app
from pacer_coach.chat.streams import OpenStreams
from pacer_coach.notifications import EventStreams
from pacer_coach.settings import CoachSettings
from pacer_common.web.serving import hypercorn_config


async def serve_until_signalled(
    settings: CoachSettings,
    stop: asyncio.Event | None = None,
    *,
    reply_log: redis.Redis | None = None,
) -> None:
    """One process, one event loop: the connection caps are per process, so scale with
    replicas. ``reply_log``: a stand-in for the reply logs' Redis (benchmarks only)."""
    streams = OpenStreams.from_settings(settings)
    notify = EventStreams.from_settings(settings)
    app = create_app(settings, streams, notify, reply_log=reply_log)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

    async def drain_then_stop() -> None:
        # hypercorn's own shutdown would wait for streams that never end by
        # themselves, then cut them unstored; end them first (step 1 above).
        await stop.wait()
        # Notification streams hold nothing to store: they end at once, never drained.
        notify.close()
        await streams.drain(settings.COACH_DRAIN_SECONDS)

    config = hypercorn_config(
        host=settings.COACH_HOST,
        port=settings.COACH_PORT,
        backlog=settings.COACH_BACKLOG,
        graceful_timeout_s=settings.COACH_GRACEFUL_TIMEOUT_SECONDS,
    )
    await serve(app, config, shutdown_trigger=drain_then_stop)  # type: ignore[arg-type]
