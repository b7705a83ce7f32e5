"""Request bodies and query strings, validated strictly.

Strict mode: a string is never coerced into a number, a number never into a
string. Extra fields are refused so that a typo is reported, not ignored.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

# The athlete's saves are validated in pacer_common: the coach's proposals use them too.
from pacer_common.athlete_schemas import (
    ActivityIn,
    CheckinIn,
    Day,
    GoalIn,
    Instant,
    Name,
    PlanIn,
    StrictModel,
)
from pacer_common.validation import free_text, has_visible
from pacer_common.web.keyset_cursor import KeysetCursor, validator

__all__ = [
    "ActivityIn",
    "CheckinIn",
    "GoalIn",
    "PlanIn",
]


class RegisterIn(StrictModel):
    email: EmailStr = Field(max_length=254)
    password: str = Field(min_length=10, max_length=256)
    name: Name


class LoginIn(StrictModel):
    email: EmailStr = Field(max_length=254)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(StrictModel):
    refresh_token: str = Field(min_length=1, max_length=512)


# The last page's next_before (a started_at and an id), or a plain time as it was before.
ActivityBefore = Annotated[KeysetCursor, validator(Instant)]


class CheckinListQuery(BaseModel):
    """Query strings are text, validated as strings (``parse_query``): "30" reads as 30."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    limit: int = Field(default=30, ge=1, le=100)
    before: Day | None = None


class ActivityListQuery(BaseModel):
    """``before``: the last page's ``next_before``, or a plain time (see keyset_cursor)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    limit: int = Field(default=30, ge=1, le=100)
    before: ActivityBefore | None = None


MAX_STATS_WEEKS = 52


class WeeklyStatsQuery(BaseModel):
    """``GET /v1/stats/weekly?weeks=N``: the last N training weeks, this one included."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    weeks: int = Field(default=12, ge=1, le=MAX_STATS_WEEKS)


# A topic's system prompt: long enough for a real interview script, short
# enough to be sent with every message of every session of the topic.
MAX_SYSTEM_PROMPT_CHARS = 8000
SystemPrompt = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_SYSTEM_PROMPT_CHARS),
    AfterValidator(free_text),
    AfterValidator(has_visible),
]


class ConversationConfigPatch(StrictModel):
    """The keys of a topic's conversation_config to change; the code and the
    ranges are checked by pacer_common.topics.ConversationConfig on the merge."""

    extraction_model_code: str | None = Field(default=None, min_length=1, max_length=64)
    max_turns: int | None = None


class TopicUpdateIn(StrictModel):
    """``PUT /v1/admin/topics/{id}``: any of the three, at least one; null is refused
    (to leave a field as it is, leave it out). slug and result_schema are fixed."""

    title: Name | None = None
    system_prompt: SystemPrompt | None = None
    conversation_config: ConversationConfigPatch | None = None

    @model_validator(mode="after")
    def _something_given(self) -> TopicUpdateIn:
        if not self.model_fields_set:
            raise ValueError("give at least one of title, system_prompt, conversation_config")
        return self

    @field_validator("title", "system_prompt", "conversation_config", mode="before")
    @classmethod
    def _no_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must not be null; leave the field out to keep it")
        return value
