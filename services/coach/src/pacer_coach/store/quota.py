"""Monthly chat quotas, counted atomically in Postgres."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from pacer_common.tables.chat_quota import give_back_one, month_window

__all__ = ["QuotaUse", "give_back_one", "month_window", "peek", "take_one"]


@dataclass(frozen=True, slots=True)
class QuotaUse:
    allowed: bool
    used: int
    limit: int
    resets_at: dt.datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


async def take_one(
    conn: asyncpg.Connection, user_id: UUID, limit: int, now: dt.datetime
) -> QuotaUse:
    """Count one message if under ``limit``.

    The conditional upsert takes the row lock, so concurrent requests queue on
    it and each sees the count the previous one left: none can overshoot.
    """
    month, resets_at = month_window(now)
    used = await conn.fetchval(
        """INSERT INTO chat_quota (user_id, month, used) SELECT $1, $2, 1 WHERE $3 > 0
           ON CONFLICT (user_id, month) DO UPDATE SET used = chat_quota.used + 1
           WHERE chat_quota.used < $3
           RETURNING used""",
        user_id,
        month,
        limit,
    )
    if used is not None:
        return QuotaUse(True, int(used), limit, resets_at)
    current = await conn.fetchval(
        "SELECT used FROM chat_quota WHERE user_id = $1 AND month = $2", user_id, month
    )
    return QuotaUse(False, int(current or 0), limit, resets_at)


async def peek(conn: asyncpg.Connection, user_id: UUID, limit: int, now: dt.datetime) -> QuotaUse:
    """This month's use without spending any: for a replayed (idempotent) request."""
    month, resets_at = month_window(now)
    used = await conn.fetchval(
        "SELECT used FROM chat_quota WHERE user_id = $1 AND month = $2", user_id, month
    )
    return QuotaUse(True, int(used or 0), limit, resets_at)
