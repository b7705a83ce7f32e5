"""A chat turn's two messages share one ``created_at``: the coach inserts the
user's message and the assistant's placeholder in one transaction, and
``DEFAULT now()`` is the transaction's start. Every reader of a conversation
must still put the user's message first.

Found end to end (tests/stack/test_sessions_e2e.py's stack): the extraction's
transcript broke the tie by the random message id, so about half of the turns
reached the extraction model as the coach's reply before the athlete's words.
Here the tie is made the worst way round for each reader: the reply's id sorts
first and its row is stored first.
"""

from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg

from fixtures.extraction import close_session, seed_topics
from pacer_coach.store.conversations import conversation_messages, history
from pacer_common import session_lifecycle

TURNS = [
    ("I'm running Berlin in September.", "Lovely. A target time?"),
    ("Under 3:30.", "And how many runs a week?"),
    ("Four.", "Got it: Berlin, sub-3:30, four runs a week."),
]


async def conversation_with_tied_turns(conn: asyncpg.Connection) -> tuple[UUID, UUID, list[UUID]]:
    """A session's conversation of TURNS (athlete's words, coach's reply), each
    turn in one transaction as the coach's open_turn writes it."""
    user_id = await conn.fetchval(
        "INSERT INTO users (email, name, password_hash) VALUES ($1, 'R', 'x') RETURNING id",
        f"order-{uuid.uuid4().hex[:10]}@example.com",
    )
    conversation_id = await conn.fetchval(
        "INSERT INTO conversations (user_id, title) VALUES ($1, 'Onboarding') RETURNING id",
        user_id,
    )
    user_ids = []
    for index, (said, reply) in enumerate(TURNS):
        user_message = UUID(f"ffffffff-0000-4000-8000-{index:012d}")
        async with conn.transaction():
            await conn.execute(
                """INSERT INTO messages (id, conversation_id, role, content, status)
                   VALUES ($1, $2, 'assistant', $3, 'complete')""",
                UUID(f"00000000-0000-4000-8000-{index:012d}"),
                conversation_id,
                reply,
            )
            await conn.execute(
                """INSERT INTO messages (id, conversation_id, role, content, status)
                   VALUES ($1, $2, 'user', $3, 'complete')""",
                user_message,
                conversation_id,
                said,
            )
        user_ids.append(user_message)
    ties = await conn.fetchval(
        "SELECT count(DISTINCT created_at) FROM messages WHERE conversation_id = $1",
        conversation_id,
    )
    assert ties == len(TURNS)  # each turn's two messages share their created_at
    return user_id, conversation_id, user_ids


EXPECTED = [
    (role, text) for said, reply in TURNS for role, text in (("user", said), ("assistant", reply))
]


async def test_the_extraction_transcript_puts_each_turns_user_message_first(
    pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    await seed_topics(pg_pool)
    async with pg_pool.acquire() as conn:
        user_id, conversation_id, _ = await conversation_with_tied_turns(conn)
        async with conn.transaction():
            session_id = await conn.fetchval(
                """INSERT INTO coach_sessions (user_id, topic_id, conversation_id)
                   SELECT $1, id, $2 FROM topics WHERE slug = 'onboarding'
                   RETURNING id""",
                user_id,
                conversation_id,
            )
            job_id = await close_session(conn, session_id, user_id)
        session = await session_lifecycle.begin_attempt(conn, session_id, job_id)
    assert session is not None
    assert [(line.role, line.content) for line in session.transcript] == EXPECTED


async def test_the_coachs_messages_and_history_put_each_turns_user_message_first(
    pg_pool: asyncpg.Pool, clean_state: None
) -> None:
    async with pg_pool.acquire() as conn:
        _, conversation_id, user_ids = await conversation_with_tied_turns(conn)
        shown = await conversation_messages(conn, conversation_id)
        assert [(m["role"], m["content"]) for m in shown] == EXPECTED
        # The prompt's history before the last turn: the turns before it, in order.
        earlier = await history(conn, conversation_id, before=user_ids[-1], limit=10)
        assert [(m.role, m.content) for m in earlier] == EXPECTED[:-2]
        # Cut to the latest three: the newest reply is kept, not the older user message.
        latest = await history(conn, conversation_id, before=user_ids[-1], limit=3)
        assert [(m.role, m.content) for m in latest] == EXPECTED[1:-2]
