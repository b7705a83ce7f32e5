"""A reply's stream again, from any coach process, and its cancel.

``GET /v1/coach/messages/{id}/stream`` replays the reply's log after the
standard ``Last-Event-ID`` (none: from the start) and follows it until
``done`` (:mod:`pacer_coach.chat.relay`); an id is checked by value (a 64-bit
stream id, else 400). ``POST .../cancel`` sets the reply's cancel key, which its
producer, on whichever coach, reads with its heartbeat (about once a second; at
once if it runs in this process). A cancel that comes after the reply ended is
409 ``reply_finished``, even in the moment between its end and its storage
(:mod:`pacer_common.reply_log.writing`): a 202 means the reply is stored cancelled.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_coach.chat import relay
from pacer_coach.sse import SlotResponse
from pacer_coach.state import app_state
from pacer_common.auth import Principal, require_account, require_user
from pacer_common.errors import BadRequest, Conflict, NotFound
from pacer_common.reply_log import writing
from pacer_common.stream_id import START, StreamId


def _message_id(request: Request) -> UUID:
    try:
        return UUID(request.path_params["message_id"])
    except ValueError:
        raise NotFound("No such reply.") from None


async def _owned_status(pool: asyncpg.Pool, message_id: UUID, principal: Principal) -> str:
    async with pool.acquire() as conn:
        await require_account(conn, principal)
        status: str | None = await conn.fetchval(
            """SELECT m.status FROM messages m JOIN conversations c ON c.id = m.conversation_id
               WHERE m.id = $1 AND c.user_id = $2 AND m.role = 'assistant'""",
            message_id,
            principal.user_id,
        )
    if status is None:
        # Someone else's reply is as unknown as one that never existed.
        raise NotFound("No such reply.")
    return status


def _last_event_id(request: Request) -> StreamId:
    raw = request.headers.get("last-event-id", "").strip()
    if not raw:
        return START
    try:
        return StreamId.parse(raw)
    except ValueError:
        raise BadRequest(
            "Last-Event-ID: not an event id of this stream.", code="invalid_last_event_id"
        ) from None


async def resume(request: Request) -> SlotResponse:
    state = app_state(request)
    principal = require_user(request)
    message_id = _message_id(request)
    after = _last_event_id(request)
    await _owned_status(state["pool"], message_id, principal)
    streams = state["streams"]
    slot = streams.reserve(principal.user_id)
    stopping = False

    def stop() -> None:
        # On a drain the resume just ends: the client resumes on another coach.
        nonlocal stopping
        stopping = True

    streams.on_shutdown(slot, stop)
    return SlotResponse(
        relay.follow(
            state["replies"].redis,
            state["pool"],
            message_id,
            after,
            log_ttl_s=state["replies"].log_ttl_s,
            stopped=lambda: stopping,
        ),
        ping=state["settings"].SSE_PING_SECONDS,
        release=lambda: streams.release(slot),
    )


async def cancel(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    message_id = _message_id(request)
    status = await _owned_status(state["pool"], message_id, principal)
    if status != "streaming":
        raise Conflict(f"This reply has already ended ({status}).", code="reply_finished")
    # For the producer wherever it runs, unless the reply's end came first (its row
    # may not say so yet: Postgres was away, or it is being stored right now).
    if not await writing.request_cancel(state["replies"].redis, message_id):
        raise Conflict("This reply has already ended.", code="reply_finished")
    state["streams"].cancel_here(message_id)
    return JSONResponse({"message_id": str(message_id), "status": "cancelling"}, status_code=202)


ROUTES = [
    Route("/v1/coach/messages/{message_id}/stream", resume, methods=["GET"]),
    Route("/v1/coach/messages/{message_id}/cancel", cancel, methods=["POST"]),
]
