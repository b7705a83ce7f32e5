"""One chat turn in Postgres, from the user's message to the stored reply.

A turn is opened on the request's task, before any stream: the account is
checked, the quota counted, the user's message and an empty ``streaming``
assistant row stored in one transaction, and the prompt built from the data
read then. It is closed by the stream (:mod:`pacer_coach.chat.session`) when the
reply ends however it ends: the assistant row gets the text the client was sent
and its final status, and a reply that failed before any text gives its quota
back. Everything this service writes about a chat happens here.

A message to a coaching session is the same turn in the session's conversation,
with the topic's prompt; the session must be ``active`` (else 409
``session_not_active``), checked after the Idempotency-Key so that a retry of
the closing message still attaches to its reply. The reply that ends the
session moves it to ``extracting`` and submits its extraction job in the
transaction that stores the reply. Both moves (MESSAGE, CLOSE) are made by
:mod:`pacer_common.session_lifecycle`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Final, Literal
from uuid import UUID

import asyncpg

from pacer_coach.chat.prompt import (
    build_messages,
    build_session_prompt,
    build_system_prompt,
    trim_history,
)
from pacer_coach.schemas import ChatIn
from pacer_coach.settings import CoachSettings
from pacer_coach.store import conversations, idempotency, quota
from pacer_common import session_lifecycle
from pacer_common.auth import Principal, require_account
from pacer_common.errors import NotFound, TooManyRequests, ValidationFailed
from pacer_common.jobs import ledger
from pacer_common.llm import Deadline, LLMClient, LLMRequest, StreamEnd
from pacer_common.logs import get_logger
from pacer_common.outages import is_dependency_down
from pacer_common.tables.athlete_context import athlete_context

log = get_logger(__name__)

# A reply's storage is retried after these pauses when Postgres is unreachable
# (about 3 s in all: a restart or a failover, not an outage).
STORE_RETRY_DELAYS_S = (0.25, 0.75, 2.0)


@dataclass(frozen=True)
class ChatTurn:
    user_id: UUID
    conversation_id: UUID
    user_message_id: UUID
    assistant_message_id: UUID
    request: LLMRequest
    deadline: Deadline
    # Set for a message to a coaching session.
    session: session_lifecycle.SessionTurn | None = None


@dataclass(frozen=True)
class Attached:
    """A retry with an Idempotency-Key already used for this body: the earlier turn's reply."""

    assistant_message_id: UUID


def body_hash(body: ChatIn, session_id: UUID | None = None) -> bytes:
    """The request's fingerprint, of the parsed body: spacing or key order do not change it.

    A session's message includes the session, so one key sent to two sessions is a reuse.
    """
    data = body.model_dump(mode="json")
    if session_id is not None:
        data["session_id"] = str(session_id)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


def _quota_exceeded(use: quota.QuotaUse, now: dt.datetime) -> TooManyRequests:
    return TooManyRequests(
        f"Monthly message limit reached ({use.limit}); it resets {use.resets_at:%Y-%m-%d}.",
        code="quota_exceeded",
        retry_after_s=int((use.resets_at - now).total_seconds()),
        extra={"limit": use.limit, "used": use.used, "resets_at": use.resets_at.isoformat()},
    )


async def open_turn(
    pool: asyncpg.Pool,
    llm: LLMClient,
    settings: CoachSettings,
    principal: Principal,
    body: ChatIn,
    now: dt.datetime,
    idempotency_key: str | None = None,
    *,
    session_id: UUID | None = None,
) -> tuple[ChatTurn | Attached, quota.QuotaUse]:
    """Store the user's message and an empty reply, spend one message of quota, build the prompt.

    With ``idempotency_key``, the key is claimed first, before the quota: a key
    this user already sent with the same body gives the earlier turn's reply
    (:class:`Attached`) and spends nothing; with another body, 422.
    With ``session_id``, the turn is in that session's conversation (``body``
    has no conversation_id), with its topic's prompt.
    Raises 401 for a token whose account was deleted, 404 for someone else's
    conversation or session, 409 for a session no longer active, 429 over the
    monthly quota; each rolls everything back.
    Postgres errors propagate, so the error handlers answer before any stream opens.
    """
    limit = settings.monthly_limit(principal.tier)
    async with pool.acquire() as conn:
        async with conn.transaction():
            await require_account(conn, principal, lock=True)
            if idempotency_key is not None:
                fingerprint = body_hash(body, session_id)
                earlier = await _earlier_reply(conn, principal, idempotency_key, fingerprint, now)
                if earlier is not None:
                    return earlier, await quota.peek(conn, principal.user_id, limit, now)
            # After the key: the closing message's retry is answered above, not refused here.
            session, conversation_id = await _conversation(conn, principal, body, session_id)
            stored = await _store_messages(
                conn, principal, conversation_id, body.message, idempotency_key, limit, now
            )
        request = await _request(conn, llm, settings, principal, session, stored, body, now)
    turn = ChatTurn(
        user_id=principal.user_id,
        conversation_id=stored.conversation_id,
        user_message_id=stored.user_message_id,
        assistant_message_id=stored.assistant_message_id,
        request=request,
        deadline=Deadline.after(settings.COACH_STREAM_TIMEOUT_SECONDS),
        session=session,
    )
    return turn, stored.use


async def _request(
    conn: asyncpg.Connection,
    llm: LLMClient,
    settings: CoachSettings,
    principal: Principal,
    session: session_lifecycle.SessionTurn | None,
    stored: _Stored,
    body: ChatIn,
    now: dt.datetime,
) -> LLMRequest:
    """The LLM call's prompt. Read on the request's task, before the call: the
    stream task never reads the data."""
    context = await athlete_context(conn, principal.user_id, now)
    history = await conversations.history(
        conn,
        stored.conversation_id,
        before=stored.user_message_id,
        limit=settings.COACH_HISTORY_MAX_MESSAGES,
    )
    if session is not None:
        system = build_session_prompt(session.system_prompt, context, now.date())
    else:
        system = build_system_prompt(context, now.date())
    return LLMRequest(
        system=system,
        messages=build_messages(
            trim_history(history, settings.COACH_HISTORY_MAX_CHARS), body.message
        ),
        max_tokens=settings.COACH_MAX_REPLY_TOKENS,
        model=llm.model_for(principal.tier),
    )


async def _earlier_reply(
    conn: asyncpg.Connection,
    principal: Principal,
    key: str,
    fingerprint: bytes,
    now: dt.datetime,
) -> Attached | None:
    """Claim the Idempotency-Key; the earlier turn's reply if this user already
    sent it with this body (None: the key is this request's now); 422 if with another."""
    claim = await idempotency.claim(conn, principal.user_id, key, fingerprint, now)
    if claim.claimed:
        return None
    if claim.body_hash != fingerprint:
        raise ValidationFailed(
            "Idempotency-Key: already used with another request body.",
            code="idempotency_key_reused",
        )
    assert claim.message_id is not None  # a committed claim has its reply
    return Attached(claim.message_id)


async def _conversation(
    conn: asyncpg.Connection, principal: Principal, body: ChatIn, session_id: UUID | None
) -> tuple[session_lifecycle.SessionTurn | None, UUID]:
    """The turn's conversation: the session's (one more turn of it), the body's
    (404 if not the user's), or a new one."""
    if session_id is not None:
        session = await session_lifecycle.take_message(conn, session_id, principal.user_id)
        return session, session.conversation_id
    if body.conversation_id is None:
        return None, await conversations.create_conversation(conn, principal.user_id, body.message)
    if not await conversations.owned_conversation(conn, body.conversation_id, principal.user_id):
        raise NotFound("No such conversation.")
    return None, body.conversation_id


@dataclass(frozen=True)
class _Stored:
    conversation_id: UUID
    user_message_id: UUID
    assistant_message_id: UUID
    use: quota.QuotaUse


async def _store_messages(
    conn: asyncpg.Connection,
    principal: Principal,
    conversation_id: UUID,
    message: str,
    idempotency_key: str | None,
    limit: int,
    now: dt.datetime,
) -> _Stored:
    """One message of quota (429 over it), the user's message and the empty reply,
    and the Idempotency-Key bound to that reply."""
    use = await quota.take_one(conn, principal.user_id, limit, now)
    if not use.allowed:
        # Raising rolls the transaction back: nothing of this request is kept.
        raise _quota_exceeded(use, now)
    # The user's words are stored before any LLM call.
    user_message_id = await conversations.insert_message(
        conn, conversation_id, "user", message, "complete"
    )
    assistant_message_id = await conversations.insert_message(
        conn, conversation_id, "assistant", "", "streaming"
    )
    if idempotency_key is not None:
        await idempotency.bind(conn, principal.user_id, idempotency_key, assistant_message_id)
    return _Stored(conversation_id, user_message_id, assistant_message_id, use)


STORED: Final = "stored"
# Postgres stayed down through every retry: the reply is in its log only, for a late store.
GAVE_UP_ON_OUTAGE: Final = "gave_up_on_outage"
# Anything else (a bug): the row stays 'streaming' for the worker's sweep.
FAILED: Final = "failed"


@dataclass(frozen=True)
class TurnClosed:
    """What :func:`close_turn` did with the reply's row."""

    result: Literal["stored", "gave_up_on_outage", "failed"]
    # The session's extraction job, when this reply ended the session (stored only).
    submitted: ledger.Submitted | None = None


async def close_turn(
    pool: asyncpg.Pool,
    turn: ChatTurn,
    *,
    content: str,
    status: str,
    code: str | None,
    model: str | None,
    end: StreamEnd | None,
    refund: bool,
    end_session: bool = False,
) -> TurnClosed:
    """Store the reply as it ended; never raises, so storage cannot break a stream's ending.

    ``end_session``: this reply closes the turn's session (CLOSE, in
    :mod:`pacer_common.session_lifecycle`), which moves to 'extracting' with its
    extraction job submitted in the same transaction; the result carries the job, for
    :meth:`pacer_coach.extraction.JobQueue.enqueue`.
    A Postgres blip is retried a few times (``STORE_RETRY_DELAYS_S``): the text
    exists nowhere else yet, and the client has already seen it.
    """
    for delay_s in (*STORE_RETRY_DELAYS_S, None):
        submitted: ledger.Submitted | None = None
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conversations.finish_assistant_message(
                    conn,
                    turn.assistant_message_id,
                    content=content,
                    status=status,
                    model=model,
                    error_code=code,
                    input_tokens=end.input_tokens if end else None,
                    output_tokens=end.output_tokens if end else None,
                )
                if refund:
                    await quota.give_back_one(conn, turn.user_id, dt.datetime.now(dt.UTC))
                if end_session and turn.session is not None:
                    submitted = await _end_session(conn, turn)
            return TurnClosed(STORED, submitted)
        except Exception as error:
            if delay_s is None or not is_dependency_down(error):
                # The row stays 'streaming'; the worker's sweep settles it later.
                log.exception("coach_store_reply_failed", message_id=str(turn.assistant_message_id))
                return TurnClosed(GAVE_UP_ON_OUTAGE if is_dependency_down(error) else FAILED)
            log.warning("coach_store_reply_retrying", message_id=str(turn.assistant_message_id))
            await asyncio.sleep(delay_s)
    raise AssertionError("not reached: the last try returns, stored or not")


async def _end_session(conn: asyncpg.Connection, turn: ChatTurn) -> ledger.Submitted | None:
    assert turn.session is not None
    session = await session_lifecycle.lock(conn, turn.session.session_id, turn.user_id)
    if session is None:
        return None
    # CLOSE only: not active means the client called `complete` while this reply
    # streamed, which queued the job.
    closed = await session_lifecycle.close(conn, session, (session_lifecycle.Move.CLOSE,))
    return None if closed is None else closed.submitted
