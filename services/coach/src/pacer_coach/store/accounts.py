"""The coach's one read of core-api's ``users`` table: does the token's account still exist?

An access token outlives a deleted account by up to its TTL. Without this check
a chat fails on a foreign key (500) and a read answers 200 with nothing.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from pacer_common.errors import Unauthorized


async def require_account(conn: asyncpg.Connection, user_id: UUID, *, lock: bool = False) -> None:
    """401 ``invalid_token``, as core-api answers, unless the account exists.

    With ``lock`` (inside a transaction) the row is key-share locked until commit,
    so a deletion racing the caller's inserts waits for them instead of breaking them.
    """
    query = "SELECT true FROM users WHERE id = $1" + (" FOR KEY SHARE" if lock else "")
    if not await conn.fetchval(query, user_id):
        raise Unauthorized("This account no longer exists.", code="invalid_token")
