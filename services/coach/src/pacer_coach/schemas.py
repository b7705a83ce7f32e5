"""The coach's request bodies and query strings."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from pacer_common.validation import free_text, not_blank


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    # The upper bound is checked against COACH_MESSAGE_MAX_CHARS in the handler.
    message: Annotated[
        str, StringConstraints(min_length=1), AfterValidator(free_text), AfterValidator(not_blank)
    ]
    conversation_id: UUID | None = None


class ConversationListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    limit: int = Field(default=20, ge=1, le=100)
    before: AwareDatetime | None = None
