"""Conversations and their messages in Postgres.

A coaching session's conversation (``coach_sessions.conversation_id``) is not
one of these: it is hidden from the list, reads as missing and cannot be
chatted to, so nothing reaches it past the session's status check
(:mod:`pacer_coach.store.sessions`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from pacer_common.web.keyset_cursor import KeysetCursor

TITLE_CHARS = 60

# A conversation of the user's own, not a coaching session's (``c`` is conversations).
_PLAIN = "NOT EXISTS (SELECT 1 FROM coach_sessions s WHERE s.conversation_id = c.id)"


@dataclass(frozen=True, slots=True)
class HistoryMessage:
    role: str
    content: str


async def owned_conversation(
    conn: asyncpg.Connection, conversation_id: UUID, user_id: UUID
) -> bool:
    found = await conn.fetchval(
        f"SELECT true FROM conversations c WHERE c.id = $1 AND c.user_id = $2 AND {_PLAIN}",
        conversation_id,
        user_id,
    )
    return bool(found)


async def create_conversation(conn: asyncpg.Connection, user_id: UUID, first_message: str) -> UUID:
    title = " ".join(first_message.split())[:TITLE_CHARS] or "Conversation"
    conversation_id: UUID = await conn.fetchval(
        "INSERT INTO conversations (user_id, title) VALUES ($1, $2) RETURNING id", user_id, title
    )
    return conversation_id


async def insert_message(
    conn: asyncpg.Connection, conversation_id: UUID, role: str, content: str, status: str
) -> UUID:
    message_id: UUID = await conn.fetchval(
        """INSERT INTO messages (conversation_id, role, content, status, finished_at)
           VALUES ($1, $2, $3, $4, CASE WHEN $4 = 'streaming' THEN NULL ELSE now() END)
           RETURNING id""",
        conversation_id,
        role,
        content,
        status,
    )
    await conn.execute("UPDATE conversations SET updated_at = now() WHERE id = $1", conversation_id)
    return message_id


async def message_status(pool: asyncpg.Pool, message_id: UUID) -> str | None:
    status: str | None = await pool.fetchval(
        "SELECT status FROM messages WHERE id = $1", message_id
    )
    return status


async def finish_assistant_message(
    conn: asyncpg.Connection,
    message_id: UUID,
    *,
    content: str,
    status: str,
    model: str | None,
    error_code: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
) -> None:
    await conn.execute(
        """UPDATE messages SET content = $2, status = $3, model = $4, error_code = $5,
                  input_tokens = $6, output_tokens = $7, finished_at = now()
           WHERE id = $1""",
        message_id,
        content,
        status,
        model,
        error_code,
        input_tokens,
        output_tokens,
    )


async def history(
    conn: asyncpg.Connection, conversation_id: UUID, *, before: UUID, limit: int
) -> list[HistoryMessage]:
    """The latest ``limit`` messages with text, oldest first, not counting ``before`` and later.

    A turn's user message and reply share ``created_at`` (open_turn inserts both in
    one transaction), so the role breaks the tie: a reply is after its message."""
    rows = await conn.fetch(
        """SELECT role, content FROM (
               SELECT role, content, created_at FROM messages
               WHERE conversation_id = $1 AND content <> ''
                 AND created_at < (SELECT created_at FROM messages WHERE id = $2)
               ORDER BY created_at DESC, role = 'assistant' DESC LIMIT $3
           ) latest ORDER BY created_at, role = 'assistant'""",
        conversation_id,
        before,
        limit,
    )
    return [HistoryMessage(row["role"], row["content"]) for row in rows]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def list_conversations(
    conn: asyncpg.Connection, user_id: UUID, *, limit: int, before: KeysetCursor | None
) -> list[dict[str, Any]]:
    """Newest first by ``updated_at``; ``id`` breaks ties so that a keyset cursor resumes
    exactly after its row. A cursor without an id (a plain time): strictly earlier."""
    rows = await conn.fetch(
        f"""SELECT c.id, c.title, c.created_at, c.updated_at,
                  (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count
           FROM conversations c
           WHERE c.user_id = $1 AND {_PLAIN}
             AND ($2::timestamptz IS NULL OR c.updated_at < $2
                  OR (c.updated_at = $2 AND c.id < $3))
           ORDER BY c.updated_at DESC, c.id DESC LIMIT $4""",
        user_id,
        None if before is None else before.at,
        None if before is None else before.id,
        limit,
    )
    return [
        {
            "id": str(row["id"]),
            "title": row["title"],
            "created_at": _iso(row["created_at"]),
            "updated_at": _iso(row["updated_at"]),
            "message_count": row["message_count"],
        }
        for row in rows
    ]


async def conversation_with_messages(
    conn: asyncpg.Connection, conversation_id: UUID, user_id: UUID
) -> dict[str, Any] | None:
    conversation = await conn.fetchrow(
        f"""SELECT c.id, c.title, c.created_at, c.updated_at FROM conversations c
            WHERE c.id = $1 AND c.user_id = $2 AND {_PLAIN}""",
        conversation_id,
        user_id,
    )
    if conversation is None:
        return None
    return {
        "id": str(conversation["id"]),
        "title": conversation["title"],
        "created_at": _iso(conversation["created_at"]),
        "updated_at": _iso(conversation["updated_at"]),
        "messages": await conversation_messages(conn, conversation_id),
    }


async def conversation_messages(
    conn: asyncpg.Connection, conversation_id: UUID
) -> list[dict[str, Any]]:
    """Every message of a conversation, oldest first; the caller checked whose it is."""
    rows = await conn.fetch(
        """SELECT id, role, content, status, model, error_code, input_tokens, output_tokens,
                  created_at, finished_at
           FROM messages WHERE conversation_id = $1
           -- A turn's two messages share created_at: its user message first (see history).
           ORDER BY created_at, role = 'assistant'""",
        conversation_id,
    )
    return [
        {
            "id": str(row["id"]),
            "role": row["role"],
            "content": row["content"],
            "status": row["status"],
            "model": row["model"],
            "error_code": row["error_code"],
            "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"],
            "created_at": _iso(row["created_at"]),
            "finished_at": _iso(row["finished_at"]),
        }
        for row in rows
    ]
