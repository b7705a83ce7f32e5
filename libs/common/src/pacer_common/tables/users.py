"""Reads of core-api's ``users`` table by the other services."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def account_exists(conn: asyncpg.Connection, user_id: UUID, *, lock: bool = False) -> bool:
    """Whether the account still exists (an access token outlives a deleted one).

    With ``lock`` (inside a transaction) the row is key-share locked until commit,
    so a deletion racing the caller's inserts waits for them instead of breaking them.
    """
    query = "SELECT true FROM users WHERE id = $1" + (" FOR KEY SHARE" if lock else "")
    return bool(await conn.fetchval(query, user_id))
