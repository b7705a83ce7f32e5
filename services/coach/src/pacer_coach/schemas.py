"""The coach's request bodies and query strings."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from pacer_common.validation import free_text, has_visible, in_utc
from pacer_common.web.keyset_cursor import KeysetCursor, validator

# The upper bound is checked against COACH_MESSAGE_MAX_CHARS in the handler.
Message = Annotated[
    str,
    StringConstraints(min_length=1),
    AfterValidator(free_text),
    # Before quota: a message of only zero-width characters would spend one on nothing.
    AfterValidator(has_visible),
]


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    message: Message
    conversation_id: UUID | None = None


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    # A topic's slug (migration 0006's CHECK); which ones exist is checked in Postgres.
    topic: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class SessionMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    message: Message


# The last page's next_before (a time and an id), or a plain time, which the lists took
# before they had a cursor: any instant that is one in UTC too (no plausibility bounds).
ListBefore = Annotated[KeysetCursor, validator(Annotated[AwareDatetime, AfterValidator(in_utc)])]


class ConversationListQuery(BaseModel):
    """The conversations' and the sessions' lists: ``before`` is the last page's
    ``next_before``, or a plain time meaning strictly earlier (see keyset_cursor)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    limit: int = Field(default=20, ge=1, le=100)
    before: ListBefore | None = None


class ProposalListQuery(BaseModel):
    """``GET /v1/coach/proposals?status=pending``: the athlete's proposals in one status."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    status: Literal["pending", "applied", "dismissed", "expired"] = "pending"
    limit: int = Field(default=20, ge=1, le=100)
