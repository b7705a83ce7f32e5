"""A chat reply's log in Redis (``pacer:reply:<message id>``): what readers and recoverers share.

The coach that runs the LLM call (the producer) appends ``meta``, coalesced
``delta`` entries, an optional ``error`` and one ``done``. Each entry has
``t`` (its kind), ``d`` (the JSON its SSE event carries) and, for ``meta`` and
``delta``, ``x`` (JSON for recovery only: the model's identity, the token count).
Any coach replays it to a client that reconnects; a dead producer's reply is
settled from it (by a resuming coach or the briefing worker's reaper), so the
text a client saw is never lost with the process that produced it.

Needs the ``jobs`` extra of pacer-common (redis).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import redis.asyncio as redis

from pacer_common import redis_names

# A Redis Stream id, as a client sends it back in Last-Event-ID.
ENTRY_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")
START = "0-0"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    kind: str
    data: dict[str, Any]
    extra: dict[str, Any]


def parse_entries(raw: list[Any]) -> list[Entry]:
    """XRANGE / one XREAD stream's entries as ``Entry`` (bytes or str clients alike)."""
    entries = []
    for entry_id, fields in raw:
        values = {_text(key): _text(value) for key, value in fields.items()}
        entries.append(
            Entry(
                _text(entry_id),
                values.get("t", ""),
                json.loads(values.get("d", "{}")),
                json.loads(values.get("x", "{}")),
            )
        )
    return entries


@dataclass
class LoggedReply:
    """A whole log read back: the text, the model, the tokens counted, and the ending if any."""

    entries: list[Entry] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(e.data.get("text", "") for e in self.entries if e.kind == "delta")

    @property
    def output_tokens(self) -> int:
        return sum(int(e.extra.get("n", 0)) for e in self.entries if e.kind == "delta")

    @property
    def meta(self) -> Entry | None:
        return next((e for e in reversed(self.entries) if e.kind == "meta"), None)

    @property
    def done(self) -> Entry | None:
        return next((e for e in self.entries if e.kind == "done"), None)

    @property
    def error(self) -> Entry | None:
        return next((e for e in self.entries if e.kind == "error"), None)


async def read_log(client: redis.Redis, message_id: UUID | str) -> LoggedReply | None:
    """The whole log, or None if there is none (never written, or expired)."""
    raw = await client.xrange(redis_names.reply_log_key(message_id))
    if not raw:
        return None
    return LoggedReply(parse_entries(raw))


async def producer_alive(client: redis.Redis, message_id: UUID | str) -> bool:
    return bool(await client.exists(redis_names.reply_heartbeat_key(message_id)))


@dataclass(frozen=True, slots=True)
class Settled:
    status: str
    code: str | None
    text: str


async def settle_from_log(
    conn: asyncpg.Connection, message_id: UUID, reply: LoggedReply
) -> Settled | None:
    """Store a reply whose producer is gone from its log; None if the row was already settled.

    With a ``done`` in the log (Postgres was down when the producer ended) the
    row gets its status; without one (the producer died) it is ``partial`` with
    the text so far, or ``failed``, code ``interrupted``. A usage row is
    written with the output counted from the log: the producer's own one was
    never written (it died, or Postgres was down). Only the one caller whose
    conditional update wins writes anything.
    """
    text = reply.text
    done = reply.done
    if done is not None:
        status = str(done.data.get("status", "partial" if text else "failed"))
        error = reply.error
        code = str(error.data["code"]) if error is not None else None
        usage = done.data.get("usage") or {}
        input_tokens = usage.get("input_tokens")
        output_tokens = usage.get("output_tokens")
    else:
        status, code = ("partial" if text else "failed"), "interrupted"
        input_tokens, output_tokens = None, None
    if output_tokens is None:
        output_tokens = reply.output_tokens
    meta = reply.meta.extra if reply.meta is not None else {}
    async with conn.transaction():
        owner = await conn.fetchval(
            """UPDATE messages m SET content = $2, status = $3, error_code = $4,
                      model = COALESCE($5, m.model), input_tokens = $6, output_tokens = $7,
                      finished_at = now()
               FROM conversations c
               WHERE m.id = $1 AND m.status = 'streaming' AND c.id = m.conversation_id
               RETURNING c.user_id""",
            message_id,
            text,
            status,
            code,
            meta.get("model_code"),
            input_tokens,
            output_tokens,
        )
        if owner is None:
            return None
        if meta.get("model_id"):
            cost = Decimal(str(meta.get("output_usd_per_mtok", "0"))) * output_tokens / 1_000_000
            cost += (
                Decimal(str(meta.get("input_usd_per_mtok", "0"))) * (input_tokens or 0) / 1_000_000
            )
            await conn.execute(
                """INSERT INTO llm_usage (user_id, purpose, provider, model_code, model_id,
                       input_tokens, output_tokens, cost_usd, ttft_ms, duration_ms, outcome,
                       fallback)
                   VALUES ($1, 'coach_chat', $2, $3, $4, $5, $6, $7, NULL, 0, $8, false)""",
                owner,
                meta.get("provider"),
                meta.get("model_code"),
                meta.get("model_id"),
                input_tokens or 0,
                output_tokens,
                round(cost, 6),
                "recovered" if done is not None else "interrupted",
            )
    return Settled(status, code, text)


async def settle_dead_producers(
    conn: asyncpg.Connection, client: redis.Redis, older_than_s: float
) -> int:
    """The reaper's pass: every `streaming` reply older than ``older_than_s`` whose producer's
    heartbeat is gone and whose log is still kept is settled from the log."""
    rows = await conn.fetch(
        """SELECT id FROM messages WHERE status = 'streaming' AND role = 'assistant'
             AND created_at < now() - make_interval(secs => $1)""",
        older_than_s,
    )
    settled = 0
    for row in rows:
        if await producer_alive(client, row["id"]):
            continue
        reply = await read_log(client, row["id"])
        if reply is not None and await settle_from_log(conn, row["id"], reply) is not None:
            settled += 1
    return settled
