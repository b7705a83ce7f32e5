"""A coaching session as its extraction reads it: the topic's schema and config,
and the transcript (the session's ``messages``), bounded in size.

The rows are the coach's (``coach_sessions``, ``messages``) and core-api's
(``topics``), read fresh for every attempt so that an admin's change applies to
the next one. The moves of a session's status are in
:mod:`pacer_common.session_lifecycle`, which reads a session through here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import asyncpg

from pacer_common.settings import MESSAGE_MAX_CHARS

if TYPE_CHECKING:
    from pacer_common.session_lifecycle import SessionStatus

# A message longer than the default message limit is cut for the extraction
# prompt: the coach caps what it accepts, this caps what one extraction can cost
# (a reply, or a message accepted under a raised COACH_MESSAGE_MAX_CHARS).
# And the whole transcript: the oldest messages go first (the closing summary is last).
TRANSCRIPT_MAX_CHARS = 60_000
# The model's invalid output kept for the admin, at most.
RAW_OUTPUT_MAX_CHARS = 20_000


@dataclass(frozen=True)
class TranscriptLine:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class SessionForExtraction:
    id: UUID
    user_id: UUID
    status: SessionStatus
    result: dict[str, Any] | None
    topic_slug: str
    result_schema: str
    # Unvalidated: the job validates it (pacer_common.topics.ConversationConfig).
    conversation_config: dict[str, Any]
    transcript: list[TranscriptLine]
    # Replies of the session still 'streaming' (complete was called mid-reply):
    # the transcript lacks their text until they are stored.
    replies_streaming: int = 0


async def for_extraction(conn: asyncpg.Connection, row: asyncpg.Record) -> SessionForExtraction:
    """The session of ``row`` (its ``coach_sessions`` and ``topics`` columns, as
    :func:`pacer_common.session_lifecycle.begin_attempt` returns them) with its
    transcript, in the caller's transaction."""
    messages = await conn.fetch(
        """SELECT role, content FROM messages
           WHERE conversation_id = $1 AND status IN ('complete', 'partial') AND content <> ''
           -- A turn's two messages share created_at (one transaction): its user message first.
           ORDER BY created_at, role = 'assistant'""",
        row["conversation_id"],
    )
    streaming = await conn.fetchval(
        """SELECT count(*) FROM messages
           WHERE conversation_id = $1 AND role = 'assistant' AND status = 'streaming'""",
        row["conversation_id"],
    )
    return SessionForExtraction(
        id=row["id"],
        user_id=row["user_id"],
        status=row["status"],
        result=None if row["result"] is None else json.loads(row["result"]),
        topic_slug=row["slug"],
        result_schema=row["result_schema"],
        conversation_config=json.loads(row["conversation_config"]),
        transcript=_bounded([TranscriptLine(m["role"], m["content"]) for m in messages]),
        replies_streaming=streaming,
    )


def _bounded(lines: list[TranscriptLine]) -> list[TranscriptLine]:
    cut = [
        TranscriptLine(line.role, line.content[:MESSAGE_MAX_CHARS] + "…")
        if len(line.content) > MESSAGE_MAX_CHARS
        else line
        for line in lines
    ]
    total = 0
    kept: list[TranscriptLine] = []
    for line in reversed(cut):
        total += len(line.content)
        if total > TRANSCRIPT_MAX_CHARS:
            break
        kept.append(line)
    return kept[::-1]
