"""Idempotency-Key claims for POST /v1/coach/chat, per user, kept ``KEY_TTL``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

import asyncpg

KEY_TTL = dt.timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Claim:
    """``claimed``: this request owns the key; else the earlier request's body hash and reply."""

    claimed: bool
    body_hash: bytes
    message_id: UUID | None


async def claim(
    conn: asyncpg.Connection, user_id: UUID, key: str, body_hash: bytes, now: dt.datetime
) -> Claim:
    """Claim ``key`` for this request, inside the caller's transaction.

    A live claim by a transaction still open blocks the upsert until that one
    commits (then this sees its row) or rolls back (then this claims the key).
    A row past ``KEY_TTL``, or one left without a reply, is taken over.
    """
    cutoff = now - KEY_TTL
    # Per user and on the primary key's prefix: cheap, and keeps a user's rows to a day's worth.
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND created_at < $2 AND key <> $3",
        user_id,
        cutoff,
        key,
    )
    # Twice at most: a row released (deleted) between the upsert and the read is claimed anew.
    for _ in range(2):
        claimed = await conn.fetchval(
            """INSERT INTO idempotency_keys (user_id, key, body_hash, message_id, created_at)
               VALUES ($1, $2, $3, NULL, $4)
               ON CONFLICT (user_id, key) DO UPDATE
                   SET body_hash = EXCLUDED.body_hash, message_id = NULL,
                       created_at = EXCLUDED.created_at
                   WHERE idempotency_keys.created_at < $5 OR idempotency_keys.message_id IS NULL
               RETURNING true""",
            user_id,
            key,
            body_hash,
            now,
            cutoff,
        )
        if claimed:
            return Claim(True, body_hash, None)
        row = await conn.fetchrow(
            "SELECT body_hash, message_id FROM idempotency_keys WHERE user_id = $1 AND key = $2",
            user_id,
            key,
        )
        if row is not None:
            return Claim(False, bytes(row["body_hash"]), row["message_id"])
    raise RuntimeError("idempotency key neither claimable nor readable")


async def bind(conn: asyncpg.Connection, user_id: UUID, key: str, message_id: UUID) -> None:
    """Point a claimed key at its reply, in the claiming transaction."""
    await conn.execute(
        "UPDATE idempotency_keys SET message_id = $3 WHERE user_id = $1 AND key = $2",
        user_id,
        key,
        message_id,
    )


async def release(conn: asyncpg.Connection, user_id: UUID, message_id: UUID) -> None:
    """Free the key of a reply that was refused after its turn was stored, so a retry can run."""
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND message_id = $2", user_id, message_id
    )
