"""GET /v1/coach/events: the user's own notifications (SSE), resumable with Last-Event-ID.

Only this route needs Redis: with Redis down it answers 503 ``unavailable``
(the shared error handlers map redis' ConnectionError) while chat goes on.
"""

from __future__ import annotations

from typing import Any

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pacer_coach.notifications import follow, parse_last_event_id, start_point
from pacer_coach.state import app_state
from pacer_common.auth import require_account, require_user


class EventsResponse(EventSourceResponse):
    """Gives the stream's slot back however the response ends, even if it never started."""

    def __init__(self, *args: Any, release: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


async def events(request: Request) -> EventsResponse:
    state = app_state(request)
    principal = require_user(request)
    # Before anything is read or reserved: a bad header never costs a slot.
    last = parse_last_event_id(request.headers.getlist("last-event-id"))
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
    registry = state["events"]
    slot = registry.reserve(principal.user_id)
    try:
        start = await start_point(state["redis"], principal.user_id, last)
        return EventsResponse(
            follow(state["events_reader"], principal.user_id, start, registry.closing),
            ping=state["settings"].SSE_PING_SECONDS,
            release=lambda: registry.release(slot),
        )
    except BaseException:
        registry.release(slot)
        raise


ROUTES = [Route("/v1/coach/events", events, methods=["GET"])]
