"""Coaching sessions (``coach_sessions``) as the coach's API shows them: reads only.

Their states and every write of them (create, a message's turn, the move to
``extracting``) are :mod:`pacer_common.session_lifecycle`'s; their topics are
core-api's, read through :mod:`pacer_common.tables.topic_prompts`. A session's
messages are an ordinary conversation of its own (one per session), hidden from
the conversations list and from plain chat (:mod:`pacer_coach.store.conversations`):
they are reached through the session, whose status decides whether a message is
still accepted.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from uuid import UUID

import asyncpg

from pacer_coach.store.conversations import conversation_messages
from pacer_common.tables.topic_prompts import TopicPrompt, topics_by_id
from pacer_common.web.keyset_cursor import KeysetCursor

_SESSION_COLUMNS = """id, topic_id, status, conversation_id, user_turns, result, error,
    created_at, updated_at, completed_at"""


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
    conn: asyncpg.Connection, user_id: UUID, *, limit: int, before: KeysetCursor | None
) -> list[dict[str, Any]]:
    """Newest first; ``id`` breaks ties so that a keyset cursor resumes exactly after its
    row. A cursor without an id (a plain time) matches no tie: strictly earlier."""
    rows = await conn.fetch(
        f"""SELECT {_SESSION_COLUMNS} FROM coach_sessions
            WHERE user_id = $1
              AND ($2::timestamptz IS NULL OR created_at < $2 OR (created_at = $2 AND id < $3))
            ORDER BY created_at DESC, id DESC LIMIT $4""",
        user_id,
        None if before is None else before.at,
        None if before is None else before.id,
        limit,
    )
    return await _as_json(conn, list(rows))


async def session_status(pool: asyncpg.Pool, session_id: UUID) -> str | None:
    status: str | None = await pool.fetchval(
        "SELECT status FROM coach_sessions WHERE id = $1", session_id
    )
    return status
