"""A coaching session's lifecycle: its states, the moves between them (one
table, :data:`TRANSITIONS`), the SQL that makes each move, and what the
session's owner hears when it ends.

Everything that writes a session's ``status`` is here, called by the coach
(its session routes and the chat turn) and by the briefing worker (the
extraction job, its outcomes and the reaper). The table is the rule: each
move's SQL takes its source states from it, so no caller decides on its own
what may follow what.

    CREATE ─→ active ─CLOSE─→ extracting ─COMPLETE─→ completed
            (MESSAGE)            │   ↑
                            FAIL │   │ RETRY
                                 ↓   │
                          extraction_failed

    move      from                to                 made by
    CREATE    (new)               active             coach: POST /v1/coach/sessions
    MESSAGE   active              active             coach: a message, one turn (else 409 session_not_active)
    CLOSE     active              extracting         coach: the closing reply (the marker or max_turns), or `complete`
    RETRY     extraction_failed   extracting         coach: `complete` again; worker: a retried job's attempt
    COMPLETE  extracting          completed          worker: a valid result        → session.completed
    FAIL      extracting          extraction_failed  worker: the last attempt failed;
                                                     reaper: its job failed with no successor
                                                                                    → session.extraction_failed

CLOSE and the coach's RETRY submit the extraction job (``jobs.kind``
:data:`pacer_common.jobs.queue.EXTRACTION`, subject the session id) in the
same transaction, so a session is never ``extracting`` without a job; the
caller puts the job on arq's queue after the commit (the worker must find the
row it is told to run).

The coach owns ``coach_sessions``; the worker is an outside writer of
``status`` (COMPLETE, FAIL, RETRY only), ``result``, ``raw_output``, ``error``,
``extraction_job_id`` and ``completed_at``. Every worker write names the status
it expects and the job that owns the session (``extraction_job_id``), so it
never overwrites a state the coach, or another attempt, moved on.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg
import redis.asyncio as redis

from pacer_common import notifications
from pacer_common.errors import Conflict, NotFound
from pacer_common.jobs import ledger
from pacer_common.jobs.queue import EXTRACTION
from pacer_common.logs import get_logger
from pacer_common.tables import session_transcript
from pacer_common.tables.session_transcript import SessionForExtraction
from pacer_common.tables.topic_prompts import TopicPrompt, topics_by_id

log = get_logger(__name__)

SessionStatus = Literal["active", "extracting", "completed", "extraction_failed"]
ACTIVE: SessionStatus = "active"
EXTRACTING: SessionStatus = "extracting"
COMPLETED: SessionStatus = "completed"
EXTRACTION_FAILED: SessionStatus = "extraction_failed"
# As the table's CHECK constraint lists them (migration 0006; a test keeps them equal).
STATUSES: tuple[SessionStatus, ...] = (ACTIVE, EXTRACTING, COMPLETED, EXTRACTION_FAILED)

# What the owner's notification stream (GET /v1/coach/events) hears::
#   session.completed          {"session_id", "status": "completed", "topic", "result", "at"}
#   session.extraction_failed  {"session_id", "status": "extraction_failed", "topic", "job_id", "at"}
# ``session.completed`` carries the result, so a listening client needs no polling;
# the job's error is for operators (the admin jobs routes), not in the event.
SESSION_COMPLETED = "session.completed"
SESSION_EXTRACTION_FAILED = "session.extraction_failed"


class Move(enum.Enum):
    CREATE = "create"
    MESSAGE = "message"
    CLOSE = "close"
    RETRY = "retry"
    COMPLETE = "complete"
    FAIL = "fail"


@dataclass(frozen=True)
class Transition:
    sources: tuple[SessionStatus, ...]
    target: SessionStatus
    # The owner's notification when the move is made, if any.
    event: str | None = None


TRANSITIONS: dict[Move, Transition] = {
    Move.CREATE: Transition((), ACTIVE),
    Move.MESSAGE: Transition((ACTIVE,), ACTIVE),
    Move.CLOSE: Transition((ACTIVE,), EXTRACTING),
    Move.RETRY: Transition((EXTRACTION_FAILED,), EXTRACTING),
    Move.COMPLETE: Transition((EXTRACTING,), COMPLETED, SESSION_COMPLETED),
    Move.FAIL: Transition((EXTRACTING,), EXTRACTION_FAILED, SESSION_EXTRACTION_FAILED),
}


def allows(move: Move, status: str) -> bool:
    """Whether a session in ``status`` may make ``move``.

    >>> allows(Move.CLOSE, "active"), allows(Move.CLOSE, "extraction_failed")
    (True, False)
    """
    return status in TRANSITIONS[move].sources


def _sources(move: Move) -> list[str]:
    """A move's source states, as the ``text[]`` its SQL compares with ``= ANY``."""
    return list(TRANSITIONS[move].sources)


def _target(move: Move) -> str:
    return TRANSITIONS[move].target


# ---- The coach's moves: CREATE, MESSAGE, CLOSE, RETRY (from `complete`) ----


@dataclass(frozen=True, slots=True)
class LockedSession:
    """A session row locked until the caller's transaction ends."""

    id: UUID
    user_id: UUID
    topic_id: UUID
    status: SessionStatus
    conversation_id: UUID


@dataclass(frozen=True, slots=True)
class SessionTurn:
    """What a message to an active session needs: its conversation and its topic's prompt."""

    session_id: UUID
    conversation_id: UUID
    system_prompt: str
    # The session ends after this reply whatever the model says: max_turns reached.
    last_turn: bool


@dataclass(frozen=True, slots=True)
class Closed:
    """A session moved to 'extracting', and its extraction job in the ledger."""

    move: Move
    submitted: ledger.Submitted


async def create(
    conn: asyncpg.Connection, user_id: UUID, topic: TopicPrompt, *, max_active: int
) -> UUID:
    """CREATE: a new active session and its (empty) conversation, in the caller's
    transaction. 409 ``too_many_active_sessions`` when the user has ``max_active``
    already: counted under a per-user lock held until the transaction ends, so
    creations at once count one after the other."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('coach_sessions:' || $1::uuid::text, 0))",
        user_id,
    )
    active: int = await conn.fetchval(
        "SELECT count(*) FROM coach_sessions WHERE user_id = $1 AND status = $2",
        user_id,
        _target(Move.CREATE),
    )
    if active >= max_active:
        raise Conflict(
            f"You have {max_active} sessions in progress; finish one (complete) first.",
            code="too_many_active_sessions",
            extra={"limit": max_active},
        )
    conversation_id = await conn.fetchval(
        "INSERT INTO conversations (user_id, title) VALUES ($1, $2) RETURNING id",
        user_id,
        topic.title,
    )
    session_id: UUID = await conn.fetchval(
        """INSERT INTO coach_sessions (user_id, topic_id, conversation_id, status)
           VALUES ($1, $2, $3, $4) RETURNING id""",
        user_id,
        topic.id,
        conversation_id,
        _target(Move.CREATE),
    )
    return session_id


async def lock(conn: asyncpg.Connection, session_id: UUID, user_id: UUID) -> LockedSession | None:
    """The user's session, locked until the caller's transaction ends; None if not theirs."""
    row = await conn.fetchrow(
        """SELECT id, user_id, topic_id, status, conversation_id FROM coach_sessions
           WHERE id = $1 AND user_id = $2 FOR UPDATE""",
        session_id,
        user_id,
    )
    return None if row is None else LockedSession(**dict(row))


async def take_message(conn: asyncpg.Connection, session_id: UUID, user_id: UUID) -> SessionTurn:
    """MESSAGE: one more user message in the user's session, with its topic as it
    is now (an admin's edit applies to the next message), in the caller's
    transaction. 404 if not theirs; 409 ``session_not_active`` unless active."""
    session = await lock(conn, session_id, user_id)
    if session is None:
        raise NotFound("No such session.")
    if not allows(Move.MESSAGE, session.status):
        raise Conflict(
            f"This session is no longer taking messages ({session.status}).",
            code="session_not_active",
            extra={"status": session.status},
        )
    turns: int = await conn.fetchval(
        """UPDATE coach_sessions SET user_turns = user_turns + 1, updated_at = now()
           WHERE id = $1 RETURNING user_turns""",
        session.id,
    )
    topic = (await topics_by_id(conn, [session.topic_id]))[session.topic_id]
    return SessionTurn(
        session_id=session.id,
        conversation_id=session.conversation_id,
        system_prompt=topic.system_prompt,
        last_turn=turns >= topic.max_turns,
    )


async def close(
    conn: asyncpg.Connection, session: LockedSession, moves: tuple[Move, ...]
) -> Closed | None:
    """CLOSE or RETRY, whichever of ``moves`` the locked session's status allows:
    'extracting', with its extraction job submitted, in the caller's transaction
    (the caller enqueues ``submitted`` after the commit). None if neither is
    allowed: 'extracting' or 'completed' only report, so calling again never runs
    a second extraction. The job's input names the owner, whose notification
    stream hears of it."""
    move = next((move for move in moves if allows(move, session.status)), None)
    if move is None:
        return None
    submitted = await ledger.submit(
        conn,
        EXTRACTION,
        str(session.id),
        {"session_id": str(session.id), "user_id": str(session.user_id)},
        run_after_s=0.0,
        rerun_if_running=False,
    )
    await conn.execute(
        """UPDATE coach_sessions
           SET status = $3, extraction_job_id = $2, error = NULL, updated_at = now()
           WHERE id = $1""",
        session.id,
        submitted.job_id,
        _target(move),
    )
    return Closed(move, submitted)


# ---- The worker's moves: RETRY (a retried job's attempt), COMPLETE, FAIL ----


async def begin_attempt(
    conn: asyncpg.Connection, session_id: UUID, job_id: UUID
) -> SessionForExtraction | None:
    """Start an attempt of job ``job_id``: RETRY for a session in 'extraction_failed'
    (a retried job), and the session, if it is being extracted, is now this job's;
    then the session with its topic and transcript. A session in any other status
    is returned unchanged (the caller decides: 'completed' means the result is
    already there). None: no such session."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """UPDATE coach_sessions s SET
                   status = CASE WHEN s.status = ANY($3::text[]) THEN $4 ELSE s.status END,
                   extraction_job_id = CASE WHEN s.status = ANY($3::text[] || $5::text[])
                                            THEN $2 ELSE s.extraction_job_id END,
                   updated_at = now()
               FROM topics t
               WHERE s.id = $1 AND t.id = s.topic_id
               RETURNING s.id, s.user_id, s.status, s.result, s.conversation_id,
                         t.slug, t.result_schema, t.conversation_config""",
            session_id,
            job_id,
            _sources(Move.RETRY),
            _target(Move.RETRY),
            _sources(Move.COMPLETE),
        )
        if row is None:
            return None
        return await session_transcript.for_extraction(conn, row)


async def record_invalid_output(
    conn: asyncpg.Connection, session_id: UUID, job_id: UUID, raw_output: str, error: str
) -> None:
    """An attempt's output that was not a valid result: kept for the admin
    (the session stays 'extracting' while attempts remain)."""
    await conn.execute(
        """UPDATE coach_sessions SET raw_output = $3, error = $4, updated_at = now()
           WHERE id = $1 AND extraction_job_id = $2 AND status = $5""",
        session_id,
        job_id,
        raw_output[: session_transcript.RAW_OUTPUT_MAX_CHARS],
        error,
        EXTRACTING,
    )


async def complete(
    conn: asyncpg.Connection, session_id: UUID, job_id: UUID, result: dict[str, Any]
) -> tuple[bool, SessionStatus | None]:
    """COMPLETE with the validated result, if the session is still this job's to
    complete: (written, the session's status now; None if it is gone).
    ('completed' unwritten: an earlier attempt got there first, and its result
    stands.) ``raw_output`` stays: the last invalid output, if any."""
    async with conn.transaction():
        written: SessionStatus | None = await conn.fetchval(
            """UPDATE coach_sessions SET status = $4, result = $3::jsonb, error = NULL,
                   completed_at = now(), updated_at = now()
               WHERE id = $1 AND extraction_job_id = $2 AND status = ANY($5::text[])
               RETURNING status""",
            session_id,
            job_id,
            json.dumps(result),
            _target(Move.COMPLETE),
            _sources(Move.COMPLETE),
        )
        if written is not None:
            return True, written
        status: SessionStatus | None = await conn.fetchval(
            "SELECT status FROM coach_sessions WHERE id = $1", session_id
        )
    return False, status


@dataclass(frozen=True)
class FailedSession:
    id: UUID
    user_id: UUID
    topic_slug: str
    job_id: UUID


async def fail(
    conn: asyncpg.Connection, session_id: UUID, job_id: UUID, error: str
) -> FailedSession | None:
    """FAIL (the job has no attempts left); None if the session was not this
    job's (completed meanwhile, or another job's)."""
    row = await conn.fetchrow(
        """UPDATE coach_sessions s SET status = $4, error = $3, updated_at = now()
           FROM topics t
           WHERE s.id = $1 AND t.id = s.topic_id
             AND s.status = ANY($5::text[])
             -- NULL: every attempt died before it began (the coach left the id unset).
             AND (s.extraction_job_id = $2 OR s.extraction_job_id IS NULL)
           RETURNING s.user_id, t.slug""",
        session_id,
        job_id,
        error,
        _target(Move.FAIL),
        _sources(Move.FAIL),
    )
    return None if row is None else FailedSession(session_id, row["user_id"], row["slug"], job_id)


async def fail_orphaned(conn: asyncpg.Connection, *, limit: int = 100) -> list[FailedSession]:
    """The reaper's backstop, FAIL for sessions still 'extracting' whose job failed
    for good and has no live successor (the failure's own write was lost, e.g.
    Postgres was away just then), or a client would wait forever."""
    rows = await conn.fetch(
        """UPDATE coach_sessions s SET status = $3, error = j.error, updated_at = now()
           FROM jobs j, topics t
           WHERE j.id = s.extraction_job_id AND t.id = s.topic_id
             AND s.id IN (
               SELECT o.id FROM coach_sessions o JOIN jobs f ON f.id = o.extraction_job_id
               WHERE o.status = ANY($4::text[]) AND f.status = 'failed'
                 AND NOT EXISTS (SELECT 1 FROM jobs live
                                 WHERE live.kind = $2 AND live.subject = o.id::text
                                   AND live.status IN ('queued', 'processing', 'timed_out'))
               LIMIT $1 FOR UPDATE OF o SKIP LOCKED)
             -- Re-checked on the locked row: a retry may have moved it meanwhile.
             AND s.status = ANY($4::text[])
           RETURNING s.id, s.user_id, t.slug, j.id AS job_id""",
        limit,
        EXTRACTION,
        _target(Move.FAIL),
        _sources(Move.FAIL),
    )
    return [FailedSession(r["id"], r["user_id"], r["slug"], r["job_id"]) for r in rows]


# ---- What the owner hears ----


@dataclass(frozen=True)
class StoredReply:
    """A stored assistant message as a reply reader rebuilds its ending from it."""

    content: str
    status: str
    error_code: str | None
    input_tokens: int | None
    output_tokens: int | None
    # For a coaching session's reply, "the session has ended and this is its last
    # message" (what its `done` said as is_final); None outside a session.
    is_final: bool | None


async def stored_reply(pool: asyncpg.Pool, message_id: UUID) -> StoredReply | None:
    """The message's row with the session's view of it; None if there is no such message."""
    row = await pool.fetchrow(
        """SELECT m.content, m.status, m.error_code, m.input_tokens, m.output_tokens,
                  s.id IS NOT NULL AS in_session,
                  s.status IS DISTINCT FROM 'active' AND NOT EXISTS (
                      SELECT 1 FROM messages later
                      WHERE later.conversation_id = m.conversation_id
                        AND later.created_at > m.created_at
                  ) AS is_final
           FROM messages m LEFT JOIN coach_sessions s ON s.conversation_id = m.conversation_id
           WHERE m.id = $1""",
        message_id,
    )
    if row is None:
        return None
    return StoredReply(
        content=row["content"],
        status=row["status"],
        error_code=row["error_code"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        is_final=row["is_final"] if row["in_session"] else None,
    )


async def _announce(
    client: redis.Redis, move: Move, user_id: UUID, session_id: UUID, data: dict[str, Any]
) -> None:
    event = TRANSITIONS[move].event
    assert event is not None  # only a move with an event is announced
    payload = {
        "session_id": str(session_id),
        "status": _target(move),
        **data,
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }
    try:
        await notifications.publish(client, user_id, event, payload)
    except Exception as error:  # the session row has the outcome; a missed event is no failure
        log.warning("session_event_not_published", type=event, error=str(error))


async def announce_completed(
    client: redis.Redis, user_id: UUID, session_id: UUID, topic: str, result: dict[str, Any]
) -> None:
    await _announce(client, Move.COMPLETE, user_id, session_id, {"topic": topic, "result": result})


async def announce_failed(client: redis.Redis, failed: FailedSession) -> None:
    await _announce(
        client,
        Move.FAIL,
        failed.user_id,
        failed.id,
        {"topic": failed.topic_slug, "job_id": str(failed.job_id)},
    )
