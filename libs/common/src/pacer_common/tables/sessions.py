"""The briefing worker's SQL on the coach's ``coach_sessions`` (and the session's
``messages``, ``topics``): the extraction job reads a session and writes its outcome.

The coach owns ``coach_sessions``; the worker is an outside writer of its
``status`` (only from 'extracting' or 'extraction_failed'), ``result``,
``raw_output``, ``error``, ``extraction_job_id`` and ``completed_at``. Every
write names the status it expects, so the worker never overwrites a state the
coach (or another attempt) moved on. ``topics`` is core-api's; it is read here,
fresh for every attempt, so that an admin's change applies to the next one.

    active ─(coach: final message or complete)→ extracting ─(worker)→ completed
                                                     │  ↑
                                              (worker: last attempt failed)
                                                     ↓  │ (a retry's next attempt)
                                                 extraction_failed
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import asyncpg

from pacer_common.topics import SessionStatus

# A message longer than this is cut for the extraction prompt: the coach caps
# what it stores, this caps what one extraction can cost.
MESSAGE_MAX_CHARS = 4000
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


async def begin_extraction(
    conn: asyncpg.Connection, session_id: UUID, job_id: UUID
) -> SessionForExtraction | None:
    """Start an attempt: a session in 'extraction_failed' (a retried job) goes back
    to 'extracting', now owned by ``job_id``; then the session with its topic and
    transcript. A session in any other status is returned unchanged (the caller
    decides: 'completed' means the result is already there). None: no such session.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            """UPDATE coach_sessions s SET
                   status = CASE WHEN s.status = 'extraction_failed' THEN 'extracting' ELSE s.status END,
                   extraction_job_id = CASE WHEN s.status IN ('extracting', 'extraction_failed')
                                            THEN $2 ELSE s.extraction_job_id END,
                   updated_at = now()
               FROM topics t
               WHERE s.id = $1 AND t.id = s.topic_id
               RETURNING s.id, s.user_id, s.status, s.result, s.conversation_id,
                         t.slug, t.result_schema, t.conversation_config""",
            session_id,
            job_id,
        )
        if row is None:
            return None
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


async def record_invalid_output(
    conn: asyncpg.Connection, session_id: UUID, job_id: UUID, raw_output: str, error: str
) -> None:
    """An attempt's output that was not a valid result: kept for the admin
    (the session stays 'extracting' while attempts remain)."""
    await conn.execute(
        """UPDATE coach_sessions SET raw_output = $3, error = $4, updated_at = now()
           WHERE id = $1 AND extraction_job_id = $2 AND status = 'extracting'""",
        session_id,
        job_id,
        raw_output[:RAW_OUTPUT_MAX_CHARS],
        error,
    )


async def complete(
    conn: asyncpg.Connection, session_id: UUID, job_id: UUID, result: dict[str, Any]
) -> tuple[bool, SessionStatus | None]:
    """'extracting' → 'completed' with the validated result, if the session is
    still this job's to complete: (written, the session's status now; None if
    it is gone). ('completed' unwritten: an earlier attempt got there first, and
    its result stands.) ``raw_output`` stays: the last invalid output, if any."""
    async with conn.transaction():
        written: SessionStatus | None = await conn.fetchval(
            """UPDATE coach_sessions SET status = 'completed', result = $3::jsonb, error = NULL,
                   completed_at = now(), updated_at = now()
               WHERE id = $1 AND extraction_job_id = $2 AND status = 'extracting'
               RETURNING status""",
            session_id,
            job_id,
            json.dumps(result),
        )
        if written is not None:
            return True, written
        status: SessionStatus | None = await conn.fetchval(
            "SELECT status FROM coach_sessions WHERE id = $1", session_id
        )
    return False, status


@dataclass(frozen=True)
class FailedSession:
    user_id: UUID
    topic_slug: str


async def fail(
    conn: asyncpg.Connection, session_id: UUID, job_id: UUID, error: str
) -> FailedSession | None:
    """'extracting' → 'extraction_failed' (the job has no attempts left); None if
    the session was not this job's (completed meanwhile, or another job's)."""
    row = await conn.fetchrow(
        """UPDATE coach_sessions s SET status = 'extraction_failed', error = $3, updated_at = now()
           FROM topics t
           WHERE s.id = $1 AND t.id = s.topic_id
             AND s.status = 'extracting'
             -- NULL: every attempt died before it began (the coach left the id unset).
             AND (s.extraction_job_id = $2 OR s.extraction_job_id IS NULL)
           RETURNING s.user_id, t.slug""",
        session_id,
        job_id,
        error,
    )
    return None if row is None else FailedSession(row["user_id"], row["slug"])


@dataclass(frozen=True)
class OrphanedSession:
    id: UUID
    user_id: UUID
    topic_slug: str
    job_id: UUID


async def fail_orphaned(conn: asyncpg.Connection, *, limit: int = 100) -> list[OrphanedSession]:
    """The reaper's backstop: sessions still 'extracting' whose job failed for good
    and has no live successor (the failure's own write was lost, e.g. Postgres
    was away just then) become 'extraction_failed', or a client would wait forever."""
    rows = await conn.fetch(
        """UPDATE coach_sessions s SET status = 'extraction_failed', error = j.error,
                  updated_at = now()
           FROM jobs j, topics t
           WHERE j.id = s.extraction_job_id AND t.id = s.topic_id
             AND s.id IN (
               SELECT o.id FROM coach_sessions o JOIN jobs f ON f.id = o.extraction_job_id
               WHERE o.status = 'extracting' AND f.status = 'failed'
                 AND NOT EXISTS (SELECT 1 FROM jobs live
                                 WHERE live.kind = 'extraction' AND live.subject = o.id::text
                                   AND live.status IN ('queued', 'processing', 'timed_out'))
               LIMIT $1 FOR UPDATE OF o SKIP LOCKED)
             -- Re-checked on the locked row: a retry may have moved it meanwhile.
             AND s.status = 'extracting'
           RETURNING s.id, s.user_id, t.slug, j.id AS job_id""",
        limit,
    )
    return [OrphanedSession(r["id"], r["user_id"], r["slug"], r["job_id"]) for r in rows]
