"""Coaching sessions (``coach_sessions``) in Postgres; their topics are core-api's,
read through :mod:`pacer_common.tables.topic_prompts`.

A session's messages are an ordinary conversation of its own (one per
session), hidden from the conversations list and from plain chat
(:mod:`pacer_coach.store.conversations`): they are reached through the session,
whose status decides whether a message is still accepted.

    active → extracting → completed
                        → extraction_failed → extracting (``complete`` again, or the admin's job retry)

The coach moves a session to ``extracting``; the briefing worker's extraction
job moves it on (status, result, error).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from pacer_coach.store.conversations import conversation_messages
from pacer_common.tables.topic_prompts import TopicPrompt, topics_by_id

_SESSION_COLUMNS = """id, topic_id, status, conversation_id, user_turns, result, error,
    created_at, updated_at, completed_at"""


@dataclass(frozen=True, slots=True)
class SessionTurn:
    """What a message to an active session needs: its conversation and its topic's prompt."""

    session_id: UUID
    conversation_id: UUID
    system_prompt: str
    # The session ends after this reply whatever the model says: max_turns reached.
    last_turn: bool


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def session_json(row: asyncpg.Record, topic: TopicPrompt) -> dict[str, Any]:
    """A session as the API shows it (``raw_output`` is the admin's, never shown here)."""
    return {
        "id": str(row["id"]),
        "topic": topic.slug,
        "title": topic.title,
        "status": row["status"],
        "conversation_id": str(row["conversation_id"]),
        "user_turns": row["user_turns"],
        "max_turns": topic.max_turns,
        "result": None if row["result"] is None else json.loads(row["result"]),
        "error": row["error"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "completed_at": _iso(row["completed_at"]),
    }


async def _as_json(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    topics = await topics_by_id(conn, {row["topic_id"] for row in rows})
    return [session_json(row, topics[row["topic_id"]]) for row in rows]


async def active_sessions(conn: asyncpg.Connection, user_id: UUID) -> int:
    """The user's active sessions, counted under a per-user lock held until the
    caller's transaction ends: creations at once count one after the other."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('coach_sessions:' || $1::uuid::text, 0))",
        user_id,
    )
    count: int = await conn.fetchval(
        "SELECT count(*) FROM coach_sessions WHERE user_id = $1 AND status = 'active'", user_id
    )
    return count


async def create_session(conn: asyncpg.Connection, user_id: UUID, topic: TopicPrompt) -> UUID:
    """A new active session and its (empty) conversation, in the caller's transaction."""
    conversation_id = await conn.fetchval(
        "INSERT INTO conversations (user_id, title) VALUES ($1, $2) RETURNING id",
        user_id,
        topic.title,
    )
    session_id: UUID = await conn.fetchval(
        """INSERT INTO coach_sessions (user_id, topic_id, conversation_id)
           VALUES ($1, $2, $3) RETURNING id""",
        user_id,
        topic.id,
        conversation_id,
    )
    return session_id


async def get_session(
    conn: asyncpg.Connection, session_id: UUID, user_id: UUID
) -> dict[str, Any] | None:
    """The user's session as JSON, without its messages; None if not theirs."""
    row = await conn.fetchrow(
        f"SELECT {_SESSION_COLUMNS} FROM coach_sessions WHERE id = $1 AND user_id = $2",
        session_id,
        user_id,
    )
    return None if row is None else (await _as_json(conn, [row]))[0]


async def session_with_messages(
    conn: asyncpg.Connection, session_id: UUID, user_id: UUID
) -> dict[str, Any] | None:
    found = await get_session(conn, session_id, user_id)
    if found is None:
        return None
    found["messages"] = await conversation_messages(conn, UUID(found["conversation_id"]))
    return found


async def list_sessions(
    conn: asyncpg.Connection, user_id: UUID, *, limit: int, before: dt.datetime | None
) -> list[dict[str, Any]]:
    """Newest first; ``before`` (a ``created_at``) pages back, as the conversations list does."""
    rows = await conn.fetch(
        f"""SELECT {_SESSION_COLUMNS} FROM coach_sessions
            WHERE user_id = $1 AND ($2::timestamptz IS NULL OR created_at < $2)
            ORDER BY created_at DESC, id DESC LIMIT $3""",
        user_id,
        before,
        limit,
    )
    return await _as_json(conn, list(rows))


async def lock_session(
    conn: asyncpg.Connection, session_id: UUID, user_id: UUID
) -> asyncpg.Record | None:
    """The user's session row, locked until the caller's transaction ends."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """SELECT id, topic_id, status, conversation_id, user_turns FROM coach_sessions
           WHERE id = $1 AND user_id = $2 FOR UPDATE""",
        session_id,
        user_id,
    )
    return row


async def count_turn(conn: asyncpg.Connection, row: asyncpg.Record) -> SessionTurn:
    """One more user message in an active, locked session (:func:`lock_session`),
    with its topic as it is now (an admin's edit applies to the next message)."""
    turns: int = await conn.fetchval(
        """UPDATE coach_sessions SET user_turns = user_turns + 1, updated_at = now()
           WHERE id = $1 RETURNING user_turns""",
        row["id"],
    )
    topic = (await topics_by_id(conn, [row["topic_id"]]))[row["topic_id"]]
    return SessionTurn(
        session_id=row["id"],
        conversation_id=row["conversation_id"],
        system_prompt=topic.system_prompt,
        last_turn=turns >= topic.max_turns,
    )


async def start_extracting(conn: asyncpg.Connection, session_id: UUID, job_id: UUID) -> None:
    """Move a locked session to 'extracting' with its job; the caller checked the status."""
    await conn.execute(
        """UPDATE coach_sessions
           SET status = 'extracting', extraction_job_id = $2, error = NULL, updated_at = now()
           WHERE id = $1""",
        session_id,
        job_id,
    )


async def session_status(pool: asyncpg.Pool, session_id: UUID) -> str | None:
    status: str | None = await pool.fetchval(
        "SELECT status FROM coach_sessions WHERE id = $1", session_id
    )
    return status
