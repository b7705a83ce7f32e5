"""Settling a reply whose producer is gone: its row stored from its log, its log ended.

Whoever finds such a reply settles it: a coach that reads it (a resume, an
Idempotency-Key retry), the producer itself once Postgres is back (it ended
while Postgres was away), or the briefing worker's reaper. The row's update is
conditional (``status = 'streaming'``), so only one of them writes anything:
the row, the quota refund, and one usage row through the LLM layer's own sink
(:class:`pacer_common.llm.postgres_usage.PostgresUsageSink`, its cost from the
registry's :meth:`~pacer_common.llm.registry.ModelSpec.cost_usd` with the
prices the log's ``meta`` recorded).

A settled reply ends like any other: ``partial`` with the text so far, or
``failed`` (which gives the message's quota back) with code ``interrupted``
(``cancelled``, and charged, if a cancel was accepted before its producer
died: a 202 always means cancelled), unless its log already has a ``done`` (the producer ended it while Postgres
was away), whose status stands. A reply with no log at all (its coach died
before the first token) is settled from its row alone, and gets a log of
``meta``, ``error``, ``done``, so a retry or a resume gets the ending as any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg
import redis.asyncio as redis

from pacer_common import redis_names
from pacer_common.llm.postgres_usage import PostgresUsageSink
from pacer_common.llm.usage import UsageRecord
from pacer_common.reply_log import entries
from pacer_common.reply_log.entries import Entry
from pacer_common.reply_log.reading import LoggedReply, producer_alive, read_log
from pacer_common.reply_log.writing import append_ending, cancel_requested
from pacer_common.tables.chat_quota import give_back_one

# A reply with neither heartbeat nor log is settled only once its row is this old:
# its producer sets the heartbeat moments after storing the row.
START_GRACE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Settled:
    status: str
    code: str | None
    text: str


def _ending_of(reply: LoggedReply, *, cancelled: bool) -> tuple[str, str | None, int | None, int]:
    """(status, error code, input tokens, output tokens) the log says the reply ended with."""
    text = reply.text
    done = reply.done
    if done is None:
        died = "cancelled" if cancelled else "interrupted"
        return ("partial" if text else "failed"), died, None, reply.output_tokens
    data = done.payload
    status = str(data.get("status"))
    if status not in entries.FINAL_STATUSES:
        status = "partial" if text else "failed"
    error = reply.error
    code = str(error.payload["code"]) if error is not None else None
    usage = data.get("usage") or {}
    output_tokens = usage.get("output_tokens")
    return (
        status,
        code,
        usage.get("input_tokens"),
        (reply.output_tokens if output_tokens is None else int(output_tokens)),
    )


async def _record_usage(
    conn: asyncpg.Connection, owner: UUID, reply: LoggedReply, tokens: tuple[int, int]
) -> None:
    spec = reply.spec
    if spec is None:
        return
    input_tokens, output_tokens = tokens
    await PostgresUsageSink(conn).record(
        UsageRecord(
            user_id=owner,
            purpose="coach_chat",
            provider=spec.provider,
            model_code=spec.code,
            model_id=spec.model_id,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=spec.cost_usd(input_tokens, output_tokens),
            ttft_ms=None,
            duration_ms=0,
            outcome="recovered" if reply.done is not None else "interrupted",
            fallback=False,
        )
    )


async def settle_from_log(
    conn: asyncpg.Connection, message_id: UUID, reply: LoggedReply, *, cancelled: bool = False
) -> Settled | None:
    """Store a reply from its log; None if its row was no longer ``streaming``.
    ``cancelled``: a cancel was accepted before its producer died (202 means cancelled)."""
    status, code, input_tokens, output_tokens = _ending_of(reply, cancelled=cancelled)
    spec = reply.spec
    async with conn.transaction():
        row = await conn.fetchrow(
            """UPDATE messages m SET content = $2, status = $3, error_code = $4,
                      model = COALESCE($5, m.model), input_tokens = $6, output_tokens = $7,
                      finished_at = now()
               FROM conversations c
               WHERE m.id = $1 AND m.status = 'streaming' AND c.id = m.conversation_id
               RETURNING c.user_id, m.created_at""",
            message_id,
            reply.text,
            status,
            code,
            spec.code if spec is not None else None,
            input_tokens,
            output_tokens,
        )
        if row is None:
            return None
        if status == "failed" and code != "cancelled":
            await give_back_one(conn, row["user_id"], row["created_at"])
        await _record_usage(conn, row["user_id"], reply, (input_tokens or 0, output_tokens))
    return Settled(status, code, reply.text)


async def settle_without_log(
    conn: asyncpg.Connection,
    message_id: UUID,
    *,
    older_than_s: float = START_GRACE_SECONDS,
    cancelled: bool = False,
) -> list[Entry] | None:
    """Settle a ``streaming`` row that has no log, from the row alone; its log's entries
    (``meta``, ``error``, ``done``), or None if the row is settled or too young."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """UPDATE messages m
               SET status = CASE WHEN m.content <> '' THEN 'partial' ELSE 'failed' END,
                   error_code = $3, finished_at = now()
               FROM conversations c
               WHERE m.id = $1 AND m.status = 'streaming' AND c.id = m.conversation_id
                 AND m.created_at < now() - make_interval(secs => $2)
               RETURNING c.user_id, m.conversation_id, m.content, m.status, m.model,
                   m.created_at,
                   (SELECT u.id FROM messages u
                    WHERE u.conversation_id = m.conversation_id AND u.role = 'user'
                      AND u.created_at <= m.created_at
                    ORDER BY u.created_at DESC LIMIT 1) AS user_message_id""",
            message_id,
            older_than_s,
            "cancelled" if cancelled else "interrupted",
        )
        if row is None:
            return None
        if row["status"] == "failed" and not cancelled:
            await give_back_one(conn, row["user_id"], row["created_at"])
    return _row_ending(message_id, row, cancelled=cancelled)


def _row_ending(message_id: UUID, row: asyncpg.Record, *, cancelled: bool) -> list[Entry]:
    log = [
        entries.meta(
            conversation_id=row["conversation_id"],
            message_id=message_id,
            user_message_id=row["user_message_id"],
            model=row["model"],
        )
    ]
    if row["content"]:
        log.append(entries.delta(row["content"], 0, replace=True))
    return [*log, *interrupted_ending(row["status"], output_tokens=None, cancelled=cancelled)]


def interrupted_ending(
    status: str,
    *,
    output_tokens: int | None,
    cancelled: bool = False,
    unfinished_tools: list[tuple[str, str]] | None = None,
) -> list[Entry]:
    """The ``error`` and ``done`` a settled reply's log ends with; first, a tool
    ``error`` for each call its producer died in (``unfinished_tools``), so that no
    tool line is left running."""
    error = entries.cancelled() if cancelled else entries.interrupted()
    return [
        *(
            entries.tool(call_id, name, "error", error="interrupted")
            for call_id, name in unfinished_tools or ()
        ),
        error,
        entries.done(
            status=status,
            finish_reason=error.payload["code"],
            input_tokens=None,
            output_tokens=output_tokens,
            latency_ms=0,
        ),
    ]


async def settle_dead_producers(
    conn: asyncpg.Connection,
    client: redis.Redis,
    older_than_s: float,
    log_ttl_s: int = redis_names.DEFAULT_REPLY_LOG_TTL_SECONDS,
) -> int:
    """The reaper's pass: every ``streaming`` reply older than ``older_than_s`` whose
    producer's heartbeat is gone is settled, from its log if Redis keeps one, else from
    its row; either way its log is ended (``error``, ``done``, kept ``log_ttl_s``)
    so that a resume or a keyed retry reads the ending, tool lines closed."""
    rows = await conn.fetch(
        """SELECT id FROM messages WHERE status = 'streaming' AND role = 'assistant'
             AND created_at < now() - make_interval(secs => $1)""",
        older_than_s,
    )
    settled = 0
    for row in rows:
        message_id = row["id"]
        if await producer_alive(client, message_id):
            continue
        reply = await read_log(client, message_id)
        cancelled = await cancel_requested(client, message_id)
        if reply is not None:
            settled += await _settle_logged(conn, client, message_id, reply, cancelled, log_ttl_s)
            continue
        ending = await settle_without_log(
            conn, message_id, older_than_s=older_than_s, cancelled=cancelled
        )
        if ending is not None:
            await append_ending(client, message_id, ending, log_ttl_s)
            settled += 1
    return settled


async def _settle_logged(
    conn: asyncpg.Connection,
    client: redis.Redis,
    message_id: UUID,
    reply: LoggedReply,
    cancelled: bool,
    log_ttl_s: int,
) -> bool:
    """Settle a logged reply and, unless its log already ends in ``done``, end its log
    as a resume would have (each open tool line closed with ``error: "interrupted"``);
    the row's conditional update makes this pass the log's one writer."""
    settled = await settle_from_log(conn, message_id, reply, cancelled=cancelled)
    if settled is None:
        return False
    if reply.done is None:
        ending = interrupted_ending(
            settled.status,
            output_tokens=reply.output_tokens,
            cancelled=cancelled,
            unfinished_tools=reply.unfinished_tools,
        )
        await append_ending(client, message_id, ending, log_ttl_s)
    return True
