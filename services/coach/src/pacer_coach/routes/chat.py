"""POST /v1/coach/chat: checks and the turn's storage on the request's task; then the stream.

An ``Idempotency-Key`` header (draft-ietf-httpapi-idempotency-key-header) makes
a retry safe: scoped per user and kept 24 hours, the same key with the same
body attaches to the first request's reply (its log from the start, then
live; ``Idempotent-Replayed: true``), with no new LLM call and no quota spent.

:func:`serve_turn` is the whole pipeline after the body is read; a coaching
session's messages (:mod:`pacer_coach.routes.sessions`) go through it too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from uuid import UUID

from starlette.requests import Request
from starlette.routing import Route

from pacer_coach.chat import relay
from pacer_coach.chat.producer import ReplyProducer
from pacer_coach.chat.turn import Attached, close_turn, open_turn
from pacer_coach.schemas import ChatIn
from pacer_coach.settings import CoachSettings
from pacer_coach.sse import SlotResponse
from pacer_coach.state import AppState, app_state
from pacer_coach.store import conversations, idempotency
from pacer_coach.store.quota import QuotaUse
from pacer_common import reply_log
from pacer_common.auth import require_user
from pacer_common.errors import BadRequest, ServiceUnavailable, ValidationFailed
from pacer_common.outages import is_dependency_down
from pacer_common.web.json_body import parse_json_body

IDEMPOTENCY_KEY_MAX_CHARS = 255
# How long an attached retry waits for the first request's producer to start:
# the key is visible once the turn commits, a moment before the producer's heartbeat.
ATTACH_WAIT_S = 5.0
ATTACH_POLL_S = 0.05


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, or None; 400 ``invalid_idempotency_key`` if malformed."""
    values = request.headers.getlist("idempotency-key")
    if not values:
        return None
    key = values[0].strip()
    # The draft sends it as a structured-field string ("..."); a bare token is taken as is.
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    problem = None
    if len(values) > 1:
        problem = "send it once"
    elif not key.strip():
        problem = "empty"
    elif len(key) > IDEMPOTENCY_KEY_MAX_CHARS:
        problem = f"at most {IDEMPOTENCY_KEY_MAX_CHARS} characters"
    elif any(not " " <= char <= "~" for char in key):
        problem = "printable ASCII only"
    if problem is not None:
        raise BadRequest(f"Idempotency-Key: {problem}.", code="invalid_idempotency_key")
    return key


async def _wait_for_producer(state: AppState, message_id: UUID) -> None:
    """Until the first request's producer runs, its log exists, or its reply has ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ATTACH_WAIT_S
    client = state["replies"].redis
    while loop.time() < deadline:
        if await reply_log.producer_alive(client, message_id):
            return
        if await reply_log.read_log(client, message_id) is not None:
            return
        if await conversations.message_status(state["pool"], message_id) != "streaming":
            return
        await asyncio.sleep(ATTACH_POLL_S)


def _quota_headers(use: QuotaUse) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(use.limit),
        "X-RateLimit-Remaining": str(use.remaining),
        "X-RateLimit-Reset": use.resets_at.isoformat(),
    }


def check_message_length(message: str, settings: CoachSettings) -> None:
    if len(message) > settings.COACH_MESSAGE_MAX_CHARS:
        raise ValidationFailed(
            f"message: at most {settings.COACH_MESSAGE_MAX_CHARS} characters",
            details=[{"field": "message", "message": "too long", "type": "string_too_long"}],
        )


async def chat(request: Request) -> SlotResponse:
    require_user(request)  # 401 before the body is read
    body = await parse_json_body(request, ChatIn)
    check_message_length(body.message, app_state(request)["settings"])
    return await serve_turn(request, body, idempotency_key(request))


async def serve_turn(
    request: Request, body: ChatIn, key: str | None, *, session_id: UUID | None = None
) -> SlotResponse:
    """One turn's reply as SSE, from the slot to the stream: a new reply, or the
    reply an Idempotency-Key retry attaches to. ``session_id``: a coaching
    session's message (``body`` has no conversation_id)."""
    state = app_state(request)
    settings = state["settings"]
    principal = require_user(request)
    streams = state["streams"]
    replies = state["replies"]
    # Every refusal above and here comes before the quota is spent or a stream opens;
    # a Postgres error in open_turn propagates to the error handlers the same way.
    slot = streams.reserve(principal.user_id)
    try:
        turn, use = await open_turn(
            state["pool"],
            state["llm"],
            settings,
            principal,
            body,
            dt.datetime.now(dt.UTC),
            key,
            session_id=session_id,
        )
        if isinstance(turn, Attached):
            return await _attach(state, turn, use, release=lambda: streams.release(slot))
        # The producer holds the slot until the reply is stored and done, not the
        # response: a client gone away no longer ends the reply.
        producer = ReplyProducer(turn, replies, on_end=lambda: streams.release(slot))
        await _open_or_refuse(state, producer, key)
        streams.on_shutdown(slot, producer.abort_for_shutdown)
        streams.on_cancel(slot, turn.assistant_message_id, producer.cancel)
        feed = producer.listen()
        producer.start()
    except BaseException:
        streams.release(slot)
        raise
    return SlotResponse(
        relay.follow_local(
            feed,
            lambda: producer.unlisten(feed),
            replies.redis,
            state["pool"],
            turn.assistant_message_id,
            log_ttl_s=replies.log_ttl_s,
        ),
        ping=settings.SSE_PING_SECONDS,
        headers=_quota_headers(use),
        release=lambda: None,
    )


async def _attach(
    state: AppState, turn: Attached, use: QuotaUse, *, release: Callable[[], None]
) -> SlotResponse:
    """A reader of the first request's reply, holding a slot like a resume."""
    await _wait_for_producer(state, turn.assistant_message_id)
    replies = state["replies"]
    return SlotResponse(
        relay.follow(
            replies.redis, state["pool"], turn.assistant_message_id, log_ttl_s=replies.log_ttl_s
        ),
        ping=state["settings"].SSE_PING_SECONDS,
        headers={**_quota_headers(use), "Idempotent-Replayed": "true"},
        release=release,
    )


async def _open_or_refuse(state: AppState, producer: ReplyProducer, key: str | None) -> None:
    """The reply's heartbeat, or 503: with no log there is no resume, so a reply nobody
    could get back is refused, stored as failed, its quota and its key given back."""
    try:
        await producer.open()
    except Exception as error:
        if not is_dependency_down(error):
            raise
        turn = producer.turn
        await close_turn(
            state["pool"],
            turn,
            content="",
            status="failed",
            code="unavailable",
            model=None,
            end=None,
            refund=True,
        )
        if key is not None:
            # Nothing was produced: a retry with the same key must get to run.
            async with state["pool"].acquire() as conn:
                await idempotency.release(conn, turn.user_id, turn.assistant_message_id)
        raise ServiceUnavailable(
            "The coach cannot keep replies right now; try again shortly.",
            code="unavailable",
            retry_after_s=5,
        ) from error


ROUTES = [Route("/v1/coach/chat", chat, methods=["POST"])]
