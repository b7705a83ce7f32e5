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
transaction that stores the reply.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from pacer_coach import extraction
from pacer_coach.chat.prompt import (
    build_messages,
    build_session_prompt,
    build_system_prompt,
    trim_history,
)
from pacer_coach.schemas import ChatIn
from pacer_coach.settings import CoachSettings
from pacer_coach.store import conversations, idempotency, quota, sessions
from pacer_common.auth import Principal, require_account
from pacer_common.errors import Conflict, NotFound, TooManyRequests, ValidationFailed
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
    session: sessions.SessionTurn | None = None


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


async def _session_turn(
    conn: asyncpg.Connection, session_id: UUID, user_id: UUID
) -> sessions.SessionTurn:
    row = await sessions.lock_session(conn, session_id, user_id)
    if row is None:
        raise NotFound("No such session.")
    if row["status"] != "active":
        raise Conflict(
            f"This session is no longer taking messages ({row['status']}).",
            code="session_not_active",
            extra={"status": row["status"]},
        )
    return await sessions.count_turn(conn, row)


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
                claim = await idempotency.claim(
                    conn, principal.user_id, idempotency_key, fingerprint, now
                )
                if not claim.claimed:
                    if claim.body_hash != fingerprint:
                        raise ValidationFailed(
                            "Idempotency-Key: already used with another request body.",
                            code="idempotency_key_reused",
                        )
                    assert claim.message_id is not None  # a committed claim has its reply
                    use = await quota.peek(conn, principal.user_id, limit, now)
                    return Attached(claim.message_id), use
            session: sessions.SessionTurn | None = None
            if session_id is not None:
                # After the key: the closing message's retry is answered above, not refused here.
                session = await _session_turn(conn, session_id, principal.user_id)
                conversation_id = session.conversation_id
            elif body.conversation_id is not None:
                if not await conversations.owned_conversation(
                    conn, body.conversation_id, principal.user_id
                ):
                    raise NotFound("No such conversation.")
                conversation_id = body.conversation_id
            else:
                conversation_id = await conversations.create_conversation(
                    conn, principal.user_id, body.message
                )
            use = await quota.take_one(conn, principal.user_id, limit, now)
            if not use.allowed:
                # Raising rolls the transaction back: nothing of this request is kept.
                raise _quota_exceeded(use, now)
            # The user's words are stored before any LLM call.
            user_message_id = await conversations.insert_message(
                conn, conversation_id, "user", body.message, "complete"
            )
            assistant_message_id = await conversations.insert_message(
                conn, conversation_id, "assistant", "", "streaming"
            )
            if idempotency_key is not None:
                await idempotency.bind(
                    conn, principal.user_id, idempotency_key, assistant_message_id
                )
        # Read on this task, before the LLM call: the stream task never reads the data.
        context = await athlete_context(conn, principal.user_id, now)
        earlier = await conversations.history(
            conn, conversation_id, before=user_message_id, limit=settings.COACH_HISTORY_MAX_MESSAGES
        )
    if session is not None:
        system = build_session_prompt(session.system_prompt, context, now.date())
    else:
        system = build_system_prompt(context, now.date())
    request = LLMRequest(
        system=system,
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
        session=session,
    )
    return turn, use


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
) -> ledger.Submitted | None:
    """Store the reply as it ended; never raises, so storage cannot break a stream's ending.

    ``end_session``: this reply closes the turn's session, which moves to
    'extracting' with its extraction job submitted in the same transaction;
    the job is returned, for :meth:`pacer_coach.extraction.JobQueue.enqueue` (None when
    the session did not end here, or the reply could not be stored).
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
            return submitted
        except Exception as error:
            if delay_s is None or not is_dependency_down(error):
                # The row stays 'streaming'; the worker's sweep settles it later.
                log.exception("coach_store_reply_failed", message_id=str(turn.assistant_message_id))
                return None
            log.warning("coach_store_reply_retrying", message_id=str(turn.assistant_message_id))
            await asyncio.sleep(delay_s)
    return None  # not reached: the last try returns, stored or not


async def _end_session(conn: asyncpg.Connection, turn: ChatTurn) -> ledger.Submitted | None:
    assert turn.session is not None
    row = await sessions.lock_session(conn, turn.session.session_id, turn.user_id)
    # Not active: the client called `complete` while this reply streamed, which queued the job.
    if row is None or row["status"] != "active":
        return None
    return await extraction.begin(conn, turn.session.session_id, turn.user_id)
