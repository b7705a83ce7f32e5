"""POST /v1/coach/chat: checks, storage and prompt on the request's task; then the stream."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pacer_coach.chat.prompt import build_messages, build_system_prompt, trim_history
from pacer_coach.chat.session import ChatSession, ChatTurn
from pacer_coach.schemas import ChatIn
from pacer_coach.state import AppState, app_state
from pacer_coach.store import conversations, quota
from pacer_common.athlete_context import athlete_context
from pacer_common.auth import Principal, require_user
from pacer_common.errors import NotFound, TooManyRequests, ValidationFailed
from pacer_common.llm import Deadline, LLMRequest
from pacer_common.web.json_body import parse_json_body


class ChatResponse(EventSourceResponse):
    """Releases the stream's slot however the response ends, even if it never started."""

    def __init__(self, *args: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def _quota_headers(use: quota.QuotaUse) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(use.limit),
        "X-RateLimit-Remaining": str(use.remaining),
        "X-RateLimit-Reset": use.resets_at.isoformat(),
    }


async def _open_turn(
    state: AppState, principal: Principal, body: ChatIn, now: dt.datetime
) -> tuple[ChatTurn, quota.QuotaUse]:
    settings = state["settings"]
    async with state["pool"].acquire() as conn:
        async with conn.transaction():
            if body.conversation_id is not None:
                if not await conversations.owned_conversation(
                    conn, body.conversation_id, principal.user_id
                ):
                    raise NotFound("No such conversation.")
                conversation_id = body.conversation_id
            else:
                conversation_id = await conversations.create_conversation(
                    conn, principal.user_id, body.message
                )
            use = await quota.take_one(
                conn, principal.user_id, settings.monthly_limit(principal.tier), now
            )
            if not use.allowed:
                # Raising rolls the transaction back: nothing of this request is kept.
                raise TooManyRequests(
                    f"Monthly message limit reached ({use.limit}); it resets {use.resets_at:%Y-%m-%d}.",
                    code="quota_exceeded",
                    retry_after_s=int((use.resets_at - now).total_seconds()),
                    extra={
                        "limit": use.limit,
                        "used": use.used,
                        "resets_at": use.resets_at.isoformat(),
                    },
                )
            # The user's words are stored before any LLM call.
            user_message_id = await conversations.insert_message(
                conn, conversation_id, "user", body.message, "complete"
            )
            assistant_message_id = await conversations.insert_message(
                conn, conversation_id, "assistant", "", "streaming"
            )
        # Read on this task, before the LLM call: the stream task never touches the data.
        context = await athlete_context(conn, principal.user_id, now)
        earlier = await conversations.history(
            conn, conversation_id, before=user_message_id, limit=settings.COACH_HISTORY_MAX_MESSAGES
        )
    llm = state["llm"]
    request = LLMRequest(
        system=build_system_prompt(context, now.date()),
        messages=build_messages(
            trim_history(earlier, settings.COACH_HISTORY_MAX_CHARS), body.message
        ),
        max_tokens=settings.COACH_MAX_REPLY_TOKENS,
        model=llm.model_for(principal.tier),
    )
    turn = ChatTurn(
        user_id=principal.user_id,
        conversation_id=conversation_id,
        user_message_id=user_message_id,
        assistant_message_id=assistant_message_id,
        request=request,
        deadline=Deadline.after(settings.COACH_STREAM_TIMEOUT_SECONDS),
    )
    return turn, use


async def chat(request: Request) -> ChatResponse:
    state = app_state(request)
    settings = state["settings"]
    principal = require_user(request)
    body = await parse_json_body(request, ChatIn)
    if len(body.message) > settings.COACH_MESSAGE_MAX_CHARS:
        raise ValidationFailed(
            f"message: at most {settings.COACH_MESSAGE_MAX_CHARS} characters",
            details=[{"field": "message", "message": "too long", "type": "string_too_long"}],
        )
    streams = state["streams"]
    slot = streams.reserve()
    try:
        turn, use = await _open_turn(state, principal, body, dt.datetime.now(dt.UTC))
        session = ChatSession(turn, llm=state["llm"], pool=state["pool"])
        streams.on_shutdown(slot, session.abort_for_shutdown)
        return ChatResponse(
            session.events(),
            ping=settings.SSE_PING_SECONDS,
            headers=_quota_headers(use),
            release=lambda: streams.release(slot),
        )
    except BaseException:
        streams.release(slot)
        raise


ROUTES = [Route("/v1/coach/chat", chat, methods=["POST"])]
