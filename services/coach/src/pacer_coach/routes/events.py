"""GET /v1/coach/events: the user's own notifications (SSE), resumable with Last-Event-ID.

Only this route needs Redis: with Redis down it answers 503 ``unavailable``
(the shared error handlers map redis' ConnectionError) while chat goes on.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from pacer_coach.notifications import follow, parse_last_event_id, start_point
from pacer_coach.sse import SlotResponse
from pacer_coach.state import app_state
from pacer_common.auth import require_account, require_user


async def events(request: Request) -> SlotResponse:
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
        return SlotResponse(
            follow(state["events_reader"], principal.user_id, start, registry.closing),
            ping=state["settings"].SSE_PING_SECONDS,
            release=lambda: registry.release(slot),
        )
    except BaseException:
        registry.release(slot)
        raise


ROUTES = [Route("/v1/coach/events", events, methods=["GET"])]
