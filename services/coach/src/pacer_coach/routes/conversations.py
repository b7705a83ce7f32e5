"""The user's own conversations, and one with its messages.

A reply whose row still says ``streaming`` while its log already has ``done``
(it ended while Postgres was away; its coach stores it as soon as Postgres is
back, :mod:`pacer_coach.chat.late_store`) is shown as its log says, never as
still streaming.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pacer_coach.schemas import ConversationListQuery
from pacer_coach.state import app_state
from pacer_coach.store import conversations
from pacer_common.auth import require_user
from pacer_common.errors import NotFound
from pacer_common.outages import is_dependency_down
from pacer_common.reply_log import read_log
from pacer_common.web.json_body import path_uuid
from pacer_common.web.keyset_cursor import encoder
from pacer_common.web.signed_in import account_connection, paged_list

# Newest first by (updated_at, id): `before` is the last page's next_before.
list_conversations = paged_list(
    ConversationListQuery, conversations.list_conversations, encoder("updated_at")
)


async def get_conversation(request: Request) -> JSONResponse:
    state = app_state(request)
    principal = require_user(request)
    conversation_id = path_uuid(request, "conversation_id", "conversation id")
    async with account_connection(request, principal) as conn:
        found = await conversations.conversation_with_messages(
            conn, conversation_id, principal.user_id
        )
    if found is None:
        # Someone else's conversation looks exactly like a missing one.
        raise NotFound("No such conversation.")
    await _as_logged(state["replies"].redis, found["messages"])
    return JSONResponse(found)


async def _as_logged(client: redis.Redis, messages: list[dict[str, Any]]) -> None:
    for message in messages:
        if message["role"] != "assistant" or message["status"] != "streaming":
            continue
        try:
            reply = await read_log(client, message["id"])
        except Exception as error:
            if not is_dependency_down(error):
                raise
            return  # Redis away: the rows as they are
        if reply is not None and reply.done is not None:
            error_entry = reply.error
            message["status"] = reply.done.payload["status"]
            message["content"] = reply.text
            message["error_code"] = error_entry.payload["code"] if error_entry else None


ROUTES = [
    Route("/v1/coach/conversations", list_conversations, methods=["GET"]),
    Route("/v1/coach/conversations/{conversation_id}", get_conversation, methods=["GET"]),
]
