"""The user's own conversations, and one with its messages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_coach.schemas import ConversationListQuery
from pacer_coach.state import app_state
from pacer_coach.store import conversations
from pacer_common.auth import require_account, require_user
from pacer_common.errors import NotFound
from pacer_common.web.json_body import parse_query, path_uuid


async def list_conversations(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    query = parse_query(request, ConversationListQuery)
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
        items = await conversations.list_conversations(
            conn, principal.user_id, limit=query.limit, before=query.before
        )
    return JSONResponse({"items": items})


async def get_conversation(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    conversation_id = path_uuid(request, "conversation_id", "conversation id")
    async with state["pool"].acquire() as conn:
        await require_account(conn, principal)
        found = await conversations.conversation_with_messages(
            conn, conversation_id, principal.user_id
        )
    if found is None:
        # Someone else's conversation looks exactly like a missing one.
        raise NotFound("No such conversation.")
    return JSONResponse(found)


ROUTES = [
    Route("/v1/coach/conversations", list_conversations, methods=["GET"]),
    Route("/v1/coach/conversations/{conversation_id}", get_conversation, methods=["GET"]),
]
