"""Coaching sessions: a guided conversation on a topic, ending in a structured result.

    POST /v1/coach/sessions                  {"topic": "onboarding"} → 201, the session
    GET  /v1/coach/sessions                  the user's sessions, newest first (?limit, ?before=next_before)
    GET  /v1/coach/sessions/{id}             the session, its messages and its result
    POST /v1/coach/sessions/{id}/messages    {"message"} → SSE, exactly as /v1/coach/chat
    POST /v1/coach/sessions/{id}/complete    Prefer: wait=N → 200 with the result, or 202

``complete`` is always safe to call again: it queues the extraction only from
``active`` or ``extraction_failed`` (CLOSE or RETRY, in
:mod:`pacer_common.session_lifecycle`), and otherwise only reports. It waits up to
N seconds (``Prefer: wait``, default EXTRACTION_INLINE_WAIT_SECONDS, at most
EXTRACTION_WAIT_MAX_SECONDS) for the session to leave ``extracting``:
``completed`` or ``extraction_failed`` → 200 with the session (``result``, or
``error``: call ``complete`` again to retry); still ``extracting`` → 202 with
``Location`` and ``Retry-After``, to poll the session (or follow
``session.completed`` on GET /v1/coach/events).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pacer_coach import extraction
from pacer_coach.metrics import COMPLETE_ANSWERS, SESSIONS_ENDED
from pacer_coach.prefer import wait_preference
from pacer_coach.routes.chat import check_message_length, idempotency_key, serve_turn
from pacer_coach.schemas import ChatIn, ConversationListQuery, SessionIn, SessionMessageIn
from pacer_coach.settings import EXTRACTION_WAIT_MAX_SECONDS, CoachSettings
from pacer_coach.state import app_state
from pacer_coach.store import sessions
from pacer_common import session_lifecycle
from pacer_common.auth import require_account, require_user
from pacer_common.errors import NotFound, ValidationFailed
from pacer_common.session_lifecycle import EXTRACTING, Move
from pacer_common.tables import topic_prompts
from pacer_common.web.json_body import parse_json_body, path_uuid
from pacer_common.web.keyset_cursor import encoder
from pacer_common.web.signed_in import account_connection, paged_list

# What a 202 from `complete` tells the client to wait before it polls.
POLL_AFTER_S = 2


def _location(session_id: Any) -> str:
    return f"/v1/coach/sessions/{session_id}"


async def create_session(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    body = await parse_json_body(request, SessionIn)
    limit = state["settings"].COACH_MAX_ACTIVE_SESSIONS
    async with state["pool"].acquire() as conn, conn.transaction():
        await require_account(conn, principal, lock=True)
        topic = await topic_prompts.topic_by_slug(conn, body.topic)
        if topic is None:
            # 422, not 404: the URL names no topic; a field of the body is wrong.
            known = ", ".join(await topic_prompts.topic_slugs(conn)) or "none"
            raise ValidationFailed(
                f"topic: no topic {body.topic!r}; the topics are: {known}",
                code="unknown_topic",
                details=[{"field": "topic", "message": "unknown topic", "type": "unknown_topic"}],
            )
        session_id = await session_lifecycle.create(
            conn, principal.user_id, topic, max_active=limit
        )
        created = await sessions.get_session(conn, session_id, principal.user_id)
    return JSONResponse(created, status_code=201, headers={"Location": _location(session_id)})


# Paged as the conversations are, by (created_at, id): `before` is the last page's next_before.
list_sessions = paged_list(ConversationListQuery, sessions.list_sessions, encoder("created_at"))


async def get_session(request: Request) -> JSONResponse:
    principal = require_user(request)
    session_id = path_uuid(request, "session_id", "session id")
    async with account_connection(request, principal) as conn:
        found = await sessions.session_with_messages(conn, session_id, principal.user_id)
    if found is None:
        # Someone else's session looks exactly like a missing one.
        raise NotFound("No such session.")
    return JSONResponse(found)


async def post_message(request: Request) -> Response:
    require_user(request)  # 401 before the body is read
    session_id = path_uuid(request, "session_id", "session id")
    body = await parse_json_body(request, SessionMessageIn)
    check_message_length(body.message, app_state(request)["settings"])
    return await serve_turn(
        request, ChatIn(message=body.message), idempotency_key(request), session_id=session_id
    )


def _wait_s(settings: CoachSettings, asked: int | None) -> float:
    """``complete``'s wait: the client's ``Prefer: wait``, capped, else the default."""
    if asked is None:
        return settings.EXTRACTION_INLINE_WAIT_SECONDS
    return min(asked, EXTRACTION_WAIT_MAX_SECONDS)


async def _close(request: Request, session_id: UUID) -> None:
    """CLOSE an active session, or RETRY a failed extraction; then enqueue its job.
    'extracting' or 'completed' only report, so a retry never runs a second extraction."""
    state = app_state(request)
    principal = require_user(request)
    async with state["pool"].acquire() as conn:
        async with conn.transaction():
            await require_account(conn, principal)
            session = await session_lifecycle.lock(conn, session_id, principal.user_id)
            if session is None:
                raise NotFound("No such session.")
            closed = await session_lifecycle.close(conn, session, (Move.CLOSE, Move.RETRY))
    if closed is not None:
        SESSIONS_ENDED.labels("complete" if closed.move is Move.CLOSE else "retry").inc()
        await state["replies"].jobs.enqueue(closed.submitted)


async def complete(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    session_id = path_uuid(request, "session_id", "session id")
    asked = wait_preference(request.headers.getlist("prefer"))
    await _close(request, session_id)
    await extraction.wait_while_extracting(
        state["pool"],
        session_id,
        _wait_s(state["settings"], asked),
        stop=lambda: state["streams"].draining,
    )
    async with state["pool"].acquire() as conn:
        found = await sessions.get_session(conn, session_id, principal.user_id)
    if found is None:
        raise NotFound("No such session.")  # the account was deleted while this waited
    headers: dict[str, str] = {}
    if asked is not None:
        headers["Preference-Applied"] = f"wait={min(asked, EXTRACTION_WAIT_MAX_SECONDS)}"
    COMPLETE_ANSWERS.labels(found["status"]).inc()
    if found["status"] == EXTRACTING:
        # Never a 200 that means "still working": the client polls the Location.
        headers |= {"Location": _location(session_id), "Retry-After": str(POLL_AFTER_S)}
        return JSONResponse(found, status_code=202, headers=headers)
    return JSONResponse(found, headers=headers)


ROUTES = [
    Route("/v1/coach/sessions", create_session, methods=["POST"]),
    Route("/v1/coach/sessions", list_sessions, methods=["GET"]),
    Route("/v1/coach/sessions/{session_id}", get_session, methods=["GET"]),
    Route("/v1/coach/sessions/{session_id}/messages", post_message, methods=["POST"]),
    Route("/v1/coach/sessions/{session_id}/complete", complete, methods=["POST"]),
]
