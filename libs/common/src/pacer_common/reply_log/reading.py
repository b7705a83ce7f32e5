"""Reading a log back: its entries as :class:`Entry`, the whole reply, and its producer's heartbeat."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import redis.asyncio as redis

from pacer_common import redis_names
from pacer_common.llm.registry import ModelSpec
from pacer_common.reply_log.entries import DATA, EXTRA, KIND, Entry, Kind, spec_of


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_entries(raw: Iterable[Any]) -> list[Entry]:
    """XRANGE's, or one XREAD stream's, entries (bytes and str clients alike)."""
    entries = []
    for entry_id, fields in raw:
        values = {_text(key): _text(value) for key, value in fields.items()}
        entries.append(
            Entry(
                values.get(KIND, ""),
                values.get(DATA, "{}"),
                values.get(EXTRA, ""),
                id=_text(entry_id),
            )
        )
    return entries


@dataclass
class LoggedReply:
    """A whole log: the text, the model, the tokens counted, and the ending if any."""

    entries: list[Entry] = field(default_factory=list)

    def _first(self, kind: Kind) -> Entry | None:
        return next((e for e in self.entries if e.kind == kind), None)

    @property
    def text(self) -> str:
        return "".join(e.payload.get("text", "") for e in self.entries if e.kind == Kind.DELTA)

    @property
    def output_tokens(self) -> int:
        return sum(int(e.recovery.get("n", 0)) for e in self.entries if e.kind == Kind.DELTA)

    @property
    def meta(self) -> Entry | None:
        return self._first(Kind.META)

    @property
    def spec(self) -> ModelSpec | None:
        return spec_of(self.meta)

    @property
    def done(self) -> Entry | None:
        return self._first(Kind.DONE)

    @property
    def error(self) -> Entry | None:
        return self._first(Kind.ERROR)

    @property
    def unfinished_tools(self) -> list[tuple[str, str]]:
        """(call_id, name) of each tool call logged as running with no result after it:
        the calls its producer was in when it died."""
        running: dict[str, str] = {}
        for entry in self.entries:
            if entry.kind == Kind.TOOL:
                payload = entry.payload
                if payload.get("status") == "running":
                    running[str(payload["call_id"])] = str(payload["name"])
                else:
                    running.pop(str(payload.get("call_id")), None)
        return list(running.items())


async def read_log(client: redis.Redis, message_id: UUID | str) -> LoggedReply | None:
    """The whole log, or None if there is none (never written, or expired)."""
    raw = await client.xrange(redis_names.reply_log_key(message_id))
    return LoggedReply(parse_entries(raw)) if raw else None


async def newest_entry(client: redis.Redis, message_id: UUID | str) -> Entry | None:
    newest = await client.xrevrange(redis_names.reply_log_key(message_id), count=1)
    return parse_entries(newest)[0] if newest else None


async def producer_alive(client: redis.Redis, message_id: UUID | str) -> bool:
    return bool(await client.exists(redis_names.reply_heartbeat_key(message_id)))
