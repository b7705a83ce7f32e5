"""Coaching sessions: a guided conversation on a topic, ending in a structured result.

    POST /v1/coach/sessions                  {"topic": "onboarding"} → 201, the session
    GET  /v1/coach/sessions                  the user's sessions, newest first (?limit, ?before)
    GET  /v1/coach/sessions/{id}             the session, its messages and its result
    POST /v1/coach/sessions/{id}/messages    {"message"} → SSE, exactly as /v1/coach/chat
    POST /v1/coach/sessions/{id}/complete    Prefer: wait=N → 200 with the result, or 202

``complete`` is always safe to call again: it queues the extraction only from
``active`` or ``extraction_failed``, and otherwise only reports. It waits up to
N seconds (``Prefer: wait``, default EXTRACTION_INLINE_WAIT_SECONDS, at most
EXTRACTION_WAIT_MAX_SECONDS) for the session to leave ``extracting``:
``completed`` or ``extraction_failed`` → 200 with the session (``result``, or
``error``: call ``complete`` again to retry); still ``extracting`` → 202 with
``Location`` and ``Retry-After``, to poll the session (or follow
``session.completed`` on GET /v1/coach/events).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pacer_coach import extraction
from pacer_coach.extraction import JobQueue
from pacer_coach.metrics import COMPLETE_ANSWERS, SESSIONS_ENDED
from pacer_coach.prefer import wait_preference
from pacer_coach.routes.chat import check_message_length, idempotency_key, serve_turn
from pacer_coach.schemas import ChatIn, ConversationListQuery, SessionIn, SessionMessageIn
from pacer_coach.settings import EXTRACTION_WAIT_MAX_SECONDS
from pacer_coach.state import app_state
from pacer_coach.store import sessions
from pacer_common.auth import require_account, require_user
from pacer_common.errors import Conflict, NotFound, ValidationFailed
from pacer_common.jobs import ledger
from pacer_common.tables import topic_prompts
from pacer_common.web.json_body import parse_json_body, parse_query, path_uuid

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
        if await sessions.active_sessions(conn, principal.user_id) >= limit:
            raise Conflict(
                f"You have {limit} sessions in progress; finish one (complete) first.",
                code="too_many_active_sessions",
                extra={"limit": limit},
            )
        session_id = await sessions.create_session(conn, principal.user_id, topic)
        created = await sessions.get_session(conn, session_id, principal.user_id)
    return JSONResponse(created, status_code=201, headers={"Location": _location(session_id)})


async def list_sessions(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    # Paged as the conversations are: `before` is the last item's created_at.
    query = parse_query(request, ConversationListQuery)
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
        items = await sessions.list_sessions(
            conn, principal.user_id, limit=query.limit, before=query.before
        )
    return JSONResponse({"items": items})


async def get_session(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    session_id = path_uuid(request, "session_id", "session id")
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
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


async def complete(request: Request) -> JSONResponse:
    state = app_state(request)
    settings = state["settings"]
    principal = require_user(request)
    session_id = path_uuid(request, "session_id", "session id")
    asked = wait_preference(request.headers.getlist("prefer"))
    wait_s = (
        settings.EXTRACTION_INLINE_WAIT_SECONDS
        if asked is None
        else min(asked, EXTRACTION_WAIT_MAX_SECONDS)
    )
    submitted: ledger.Submitted | None = None
    async with state["pool"].acquire() as conn:
        async with conn.transaction():
            await require_account(conn, principal)
            row = await sessions.lock_session(conn, session_id, principal.user_id)
            if row is None:
                raise NotFound("No such session.")
            # 'extracting' or 'completed': report only, so a retry never runs a second extraction.
            if row["status"] in extraction.EXTRACTABLE:
                submitted = await extraction.begin(conn, session_id, principal.user_id)
    if submitted is not None:
        SESSIONS_ENDED.labels("complete" if row["status"] == "active" else "retry").inc()
        await JobQueue(state["arq"], settings).enqueue(submitted)
    await extraction.wait_while_extracting(
        state["pool"], session_id, wait_s, stop=lambda: state["streams"].draining
    )
    async with state["pool"].acquire() as conn:
        found = await sessions.get_session(conn, session_id, principal.user_id)
    if found is None:
        raise NotFound("No such session.")  # the account was deleted while this waited
    headers: dict[str, str] = {}
    if asked is not None:
        headers["Preference-Applied"] = f"wait={min(asked, EXTRACTION_WAIT_MAX_SECONDS)}"
    COMPLETE_ANSWERS.labels(found["status"]).inc()
    if found["status"] == "extracting":
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
