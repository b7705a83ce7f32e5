"""Reads of core-api's ``topics`` by the coach: what a coaching session's conversation needs.

A topic is read each time it is needed (a session created, a message sent, a
session shown), never cached, so an admin's edit of its prompt or max_turns
applies to the very next message. The extraction's side of a topic (its model
and result schema) is the briefing worker's business, not this module's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from pacer_common.topics import ConversationConfig

# What max_turns is taken to be if a topic's conversation_config lacks a valid one.
DEFAULT_MAX_TURNS: int = ConversationConfig.model_fields["max_turns"].default

_COLUMNS = "id, slug, title, system_prompt, conversation_config"


@dataclass(frozen=True, slots=True)
class TopicPrompt:
    id: UUID
    slug: str
    title: str
    system_prompt: str
    # User messages after which the session ends whatever the model says.
    max_turns: int


def max_turns(conversation_config: str | dict[str, Any] | None) -> int:
    """A topic's max_turns, read leniently: a config the admin route would refuse
    today (say, a model code since removed) must not stop the conversation."""
    config: Any = conversation_config
    if isinstance(config, str):
        config = json.loads(config)
    value = config.get("max_turns") if isinstance(config, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return DEFAULT_MAX_TURNS


def _topic(row: asyncpg.Record) -> TopicPrompt:
    return TopicPrompt(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        system_prompt=row["system_prompt"],
        max_turns=max_turns(row["conversation_config"]),
    )


async def topic_by_slug(conn: asyncpg.Connection, slug: str) -> TopicPrompt | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM topics WHERE slug = $1", slug)
    return None if row is None else _topic(row)


async def topics_by_id(conn: asyncpg.Connection, ids: Iterable[UUID]) -> dict[UUID, TopicPrompt]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM topics WHERE id = ANY($1::uuid[])", list(ids))
    return {row["id"]: _topic(row) for row in rows}


async def topic_slugs(conn: asyncpg.Connection) -> list[str]:
    return [row["slug"] for row in await conn.fetch("SELECT slug FROM topics ORDER BY slug")]
