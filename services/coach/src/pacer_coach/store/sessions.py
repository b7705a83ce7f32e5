"""Coaching sessions (``coach_sessions``) and the topics they follow, in Postgres.

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
from pacer_common.topics import ConversationConfig

# What a topic's max_turns is taken to be if its conversation_config lacks a valid one.
DEFAULT_MAX_TURNS: int = ConversationConfig.model_fields["max_turns"].default

# The columns a session's JSON is made of (see :func:`session_json`).
_SESSION_COLUMNS = """s.id, s.status, s.conversation_id, s.user_turns, s.result, s.error,
    s.created_at, s.updated_at, s.completed_at, t.slug, t.title, t.conversation_config"""


@dataclass(frozen=True, slots=True)
class Topic:
    id: UUID
    slug: str
    title: str


@dataclass(frozen=True, slots=True)
class SessionTurn:
    """What a message to an active session needs: its conversation and its topic's prompt."""

    session_id: UUID
    conversation_id: UUID
    system_prompt: str
    # The session ends after this reply whatever the model says: max_turns reached.
    last_turn: bool


def max_turns(conversation_config: str | dict[str, Any] | None) -> int:
    """A topic's max_turns, read leniently: a config the admin route would refuse
    today (say, a model code since removed) must not stop the conversation."""
    config = json.loads(conversation_config) if isinstance(conversation_config, str) else None
    if config is None and isinstance(conversation_config, dict):
        config = conversation_config
    value = (config or {}).get("max_turns")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return DEFAULT_MAX_TURNS


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def session_json(row: asyncpg.Record) -> dict[str, Any]:
    """A session as the API shows it (``raw_output`` is the admin's, never shown here)."""
    return {
        "id": str(row["id"]),
        "topic": row["slug"],
        "title": row["title"],
        "status": row["status"],
        "conversation_id": str(row["conversation_id"]),
        "user_turns": row["user_turns"],
        "max_turns": max_turns(row["conversation_config"]),
        "result": None if row["result"] is None else json.loads(row["result"]),
        "error": row["error"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "completed_at": _iso(row["completed_at"]),
    }


async def topic_by_slug(conn: asyncpg.Connection, slug: str) -> Topic | None:
    row = await conn.fetchrow("SELECT id, slug, title FROM topics WHERE slug = $1", slug)
    return None if row is None else Topic(row["id"], row["slug"], row["title"])


async def topic_slugs(conn: asyncpg.Connection) -> list[str]:
    return [row["slug"] for row in await conn.fetch("SELECT slug FROM topics ORDER BY slug")]


async def create_session(conn: asyncpg.Connection, user_id: UUID, topic: Topic) -> UUID:
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
        f"""SELECT {_SESSION_COLUMNS} FROM coach_sessions s JOIN topics t ON t.id = s.topic_id
            WHERE s.id = $1 AND s.user_id = $2""",
        session_id,
        user_id,
    )
    return None if row is None else session_json(row)


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
        f"""SELECT {_SESSION_COLUMNS} FROM coach_sessions s JOIN topics t ON t.id = s.topic_id
            WHERE s.user_id = $1 AND ($2::timestamptz IS NULL OR s.created_at < $2)
            ORDER BY s.created_at DESC, s.id DESC LIMIT $3""",
        user_id,
        before,
        limit,
    )
    return [session_json(row) for row in rows]


async def lock_session(
    conn: asyncpg.Connection, session_id: UUID, user_id: UUID
) -> asyncpg.Record | None:
    """The user's session row, locked until the caller's transaction ends."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """SELECT s.id, s.status, s.conversation_id, s.user_turns,
                  t.system_prompt, t.conversation_config
           FROM coach_sessions s JOIN topics t ON t.id = s.topic_id
           WHERE s.id = $1 AND s.user_id = $2
           FOR UPDATE OF s""",
        session_id,
        user_id,
    )
    return row


async def count_turn(conn: asyncpg.Connection, row: asyncpg.Record) -> SessionTurn:
    """One more user message in an active, locked session (:func:`lock_session`)."""
    turns: int = await conn.fetchval(
        """UPDATE coach_sessions SET user_turns = user_turns + 1, updated_at = now()
           WHERE id = $1 RETURNING user_turns""",
        row["id"],
    )
    return SessionTurn(
        session_id=row["id"],
        conversation_id=row["conversation_id"],
        system_prompt=row["system_prompt"],
        last_turn=turns >= max_turns(row["conversation_config"]),
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
