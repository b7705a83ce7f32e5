"""Writes to the coach's ``messages`` table by the briefing worker's reaper.

The coach inserts an assistant message as 'streaming' before it calls the
LLM and settles it when the stream ends; a coach killed mid-stream (SIGKILL,
OOM) never settles it. Past any possible stream length it is marked
'failed' (or 'partial' if text was stored) with error_code 'interrupted', so
the conversation shows what happened instead of a reply forever being written.
Before that, the reaper settles such a row from its reply log while Redis keeps
it (:func:`pacer_common.reply_log.settle_dead_producers`), with the text the
client saw; this is the backstop for a log already gone.
"""

from __future__ import annotations

import asyncpg


async def settle_abandoned_replies(conn: asyncpg.Connection, older_than_s: float) -> int:
    status = await conn.execute(
        """UPDATE messages
           SET status = CASE WHEN content <> '' THEN 'partial' ELSE 'failed' END,
               error_code = 'interrupted', finished_at = now()
           WHERE status = 'streaming' AND role = 'assistant'
             AND created_at < now() - make_interval(secs => $1)""",
        older_than_s,
    )
    return int(status.split()[-1])
