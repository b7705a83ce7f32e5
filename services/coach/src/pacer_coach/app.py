"""coach: SSE chat with the AI coach. Reads like a table of contents."""

from __future__ import annotations

import redis.asyncio as redis
from starlette.applications import Starlette

from pacer_coach.chat.streams import OpenStreams
from pacer_coach.lifespan import lifespan_for
from pacer_coach.notifications import EventStreams
from pacer_coach.routes import chat, conversations, events, health, replies, sessions
from pacer_coach.settings import CoachSettings
from pacer_common.web.load_shedding import ShedPolicy
from pacer_common.web.service_app import Cors, service_app

SERVICE_NAME = "coach"
CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "X-Request-ID",
    "Last-Event-ID",
    "Idempotency-Key",
    # RFC 7240, for POST /v1/coach/sessions/{id}/complete.
    "Prefer",
]
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Idempotent-Replayed",
    "Location",
    "Preference-Applied",
]


def create_app(
    settings: CoachSettings,
    streams: OpenStreams,
    notify: EventStreams | None = None,
    *,
    reply_log: redis.Redis | None = None,
) -> Starlette:
    """``streams`` and ``notify`` are shared with the server, whose shutdown trigger
    drains the one and closes the other; ``reply_log``: see :func:`lifespan_for`."""
    if notify is None:
        notify = EventStreams.from_settings(settings)
    return service_app(
        [
            *health.ROUTES,
            *chat.ROUTES,
            *replies.ROUTES,
            *conversations.ROUTES,
            *sessions.ROUTES,
            *events.ROUTES,
        ],
        shed=ShedPolicy(settings.COACH_SHED_LOOP_LAG_SECONDS, settings.COACH_SHED_LOOP_LAG_SAMPLES),
        cors=Cors(
            allow_origins=settings.ALLOWED_ORIGINS,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
        ),
        max_body_bytes=settings.MAX_REQUEST_BODY_BYTES,
        lifespan=lifespan_for(settings, streams, notify, reply_log=reply_log),
    )
