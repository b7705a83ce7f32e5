"""What a tool is given and what it gives back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel, ConfigDict


class NoArguments(BaseModel):
    """A tool that takes none: ``{}`` (anything else is refused, as in a request body)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


@dataclass(frozen=True)
class ToolContext:
    """One reply's: whose data, which reply, which step of it (a proposal's key)."""

    pool: asyncpg.Pool
    user_id: UUID
    message_id: UUID
    step: int
    proposal_ttl_s: float


@dataclass(frozen=True)
class ToolAnswer:
    """``content``: what the model reads (sent as JSON); ``summary``: the athlete's line;
    ``proposal``: the pending change a proposal tool stored."""

    content: dict[str, Any]
    summary: str
    proposal: dict[str, Any] | None = None
