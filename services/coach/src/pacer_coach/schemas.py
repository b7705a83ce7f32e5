"""The coach's request bodies and query strings."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints


def _printable(value: str) -> str:
    if any(ord(char) < 32 and char not in "\t\n\r" for char in value) or "\x7f" in value:
        raise ValueError("must not contain control characters")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    # The upper bound is checked against COACH_MESSAGE_MAX_CHARS in the handler.
    message: Annotated[str, StringConstraints(min_length=1), AfterValidator(_printable)]
    conversation_id: UUID | None = None


class ConversationListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    limit: int = Field(default=20, ge=1, le=100)
    before: AwareDatetime | None = None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
