"""The monthly chat quota's month and its refund: shared by the coach, which counts
messages (``pacer_coach.store.quota``), and whoever settles a reply that failed
before any text (the coach for a dead producer, the worker's reaper)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg


def month_window(now: dt.datetime) -> tuple[dt.date, dt.datetime]:
    """(first day of this UTC month, start of the next one)."""
    now = now.astimezone(dt.UTC)
    month = now.date().replace(day=1)
    following = (month + dt.timedelta(days=32)).replace(day=1)
    return month, dt.datetime.combine(following, dt.time(), tzinfo=dt.UTC)


async def give_back_one(conn: asyncpg.Connection, user_id: UUID, sent_at: dt.datetime) -> None:
    """Refund a message whose reply failed before any text (not the athlete's fault),
    in the month it was counted in."""
    month, _ = month_window(sent_at)
    await conn.execute(
        "UPDATE chat_quota SET used = used - 1 WHERE user_id = $1 AND month = $2 AND used > 0",
        user_id,
        month,
    )
