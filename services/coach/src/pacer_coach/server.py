"""Serve the coach with hypercorn, draining open streams on SIGTERM before the server stops."""

from __future__ import annotations

import asyncio
import logging
import signal

from hypercorn.asyncio import serve
from hypercorn.config import Config

from pacer_coach.app import create_app
from pacer_coach.chat.streams import OpenStreams
from pacer_coach.settings import CoachSettings


def hypercorn_config(settings: CoachSettings) -> Config:
    config = Config()
    config.bind = [f"{settings.COACH_HOST}:{settings.COACH_PORT}"]
    config.backlog = settings.COACH_BACKLOG
    # Streams were told to end during the drain; this only bounds stragglers.
    config.graceful_timeout = settings.COACH_GRACEFUL_TIMEOUT_SECONDS
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


async def serve_until_signalled(settings: CoachSettings, stop: asyncio.Event | None = None) -> None:
    """One process, one event loop: the connection cap is per process, so scale with replicas."""
    streams = OpenStreams(warn_at=settings.SSE_WARN_CONNECTIONS, cap=settings.SSE_MAX_CONNECTIONS)
    app = create_app(settings, streams)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

    async def drain_then_stop() -> None:
        # hypercorn's own shutdown would wait for streams that never end by
        # themselves; end them first (error `shutdown` + `done`, replies stored).
        await stop.wait()
        await streams.drain(settings.COACH_DRAIN_SECONDS)

    await serve(app, hypercorn_config(settings), shutdown_trigger=drain_then_stop)  # type: ignore[arg-type]
