"""The ``topics`` table (migration 0006), owned by core-api: the admin routes read and change it.

The coach (prompt, max_turns) and the briefing worker (extraction model, result
schema) read a topic's row each time they need it, so a change made here
applies to the next message and the next extraction, without a restart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from pacer_common.topics import RESULT_SCHEMAS, ConversationConfig

_COLUMNS = (
    "id, slug, title, system_prompt, conversation_config, result_schema, created_at, updated_at"
)


def _as_json(row: asyncpg.Record) -> dict[str, Any]:
    schema = RESULT_SCHEMAS.get(row["result_schema"])
    return {
        "id": str(row["id"]),
        "slug": row["slug"],
        "title": row["title"],
        "system_prompt": row["system_prompt"],
        "conversation_config": json.loads(row["conversation_config"]),
        "result_schema": row["result_schema"],
        # What the extraction is validated against: the admin sees what a
        # result looks like without reading the code.
        "result_json_schema": None if schema is None else schema.model_json_schema(),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


async def list_topics(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM topics ORDER BY slug")
    return [_as_json(row) for row in rows]


def _where(key: UUID | str) -> str:
    return "id = $1" if isinstance(key, UUID) else "slug = $1"


async def get_topic(conn: asyncpg.Connection, key: UUID | str) -> dict[str, Any] | None:
    """By id, or by slug when ``key`` is a str."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM topics WHERE {_where(key)}", key)
    return None if row is None else _as_json(row)


@dataclass(frozen=True)
class TopicChange:
    title: str | None
    system_prompt: str | None
    # Merged over the stored conversation_config: only the keys given change.
    config_patch: dict[str, Any]


class InvalidConfig(Exception):
    """The merged conversation_config does not validate (e.g. an unknown model code)."""

    def __init__(self, error: ValidationError) -> None:
        super().__init__(str(error))
        self.error = error


async def update_topic(
    conn: asyncpg.Connection, key: UUID | str, change: TopicChange
) -> dict[str, Any] | None:
    """Apply ``change``; None if there is no such topic. Raises InvalidConfig.

    The row is locked while the patch is merged, so two admins changing
    different keys at once both keep their change.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            f"SELECT id, conversation_config FROM topics WHERE {_where(key)} FOR UPDATE", key
        )
        if row is None:
            return None
        merged = {**json.loads(row["conversation_config"]), **change.config_patch}
        try:
            config = ConversationConfig.model_validate(merged)
        except ValidationError as error:
            raise InvalidConfig(error) from None
        updated = await conn.fetchrow(
            f"""UPDATE topics SET title = coalesce($2, title),
                   system_prompt = coalesce($3, system_prompt),
                   conversation_config = $4::jsonb, updated_at = now()
                WHERE id = $1 RETURNING {_COLUMNS}""",
            row["id"],
            change.title,
            change.system_prompt,
            config.model_dump_json(),
        )
    return _as_json(updated)
