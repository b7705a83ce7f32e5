"""Request bodies and query strings, validated strictly.

Strict mode: a string is never coerced into a number, a number never into a
string. Extra fields are refused so that a typo is reported, not ignored.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

MAX_DURATION_S = 7 * 86_400
MAX_DISTANCE_M = 10_000_000.0


def _printable(value: str) -> str:
    # Postgres text cannot hold NUL, and other control characters in a name or
    # note are never intended; tabs and newlines are fine in notes.
    if any(ord(char) < 32 and char not in "\t\n\r" for char in value):
        raise ValueError("must not contain control characters")
    return value


def _plausible_date(value: dt.date) -> dt.date:
    if not dt.date(1900, 1, 1) <= value <= dt.date(2200, 12, 31):
        raise ValueError("must be between 1900-01-01 and 2200-12-31")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_printable),
]
Note = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_printable)]
Day = Annotated[dt.date, AfterValidator(_plausible_date)]
Sport = Literal["run", "ride", "swim", "strength", "other"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class RegisterIn(StrictModel):
    email: EmailStr = Field(max_length=254)
    password: str = Field(min_length=10, max_length=256)
    name: Name


class LoginIn(StrictModel):
    email: EmailStr = Field(max_length=254)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(StrictModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class CheckinIn(StrictModel):
    sleep_hours: float = Field(ge=0, le=24)
    soreness: int = Field(ge=1, le=5)
    mood: int = Field(ge=1, le=5)
    note: Note | None = None
    date: Day | None = None

    @model_validator(mode="after")
    def _not_in_future(self) -> CheckinIn:
        # A day ahead of UTC is allowed: it is already tomorrow east of Greenwich.
        if self.date is not None and self.date > dt.datetime.now(dt.UTC).date() + dt.timedelta(
            days=1
        ):
            raise ValueError("date must not be in the future")
        return self


class ActivityIn(StrictModel):
    sport: Sport
    started_at: AwareDatetime
    duration_s: int = Field(gt=0, le=MAX_DURATION_S)
    distance_m: float | None = Field(default=None, ge=0, le=MAX_DISTANCE_M)
    avg_hr: int | None = Field(default=None, ge=30, le=250)
    note: Note | None = None

    @model_validator(mode="after")
    def _plausible_start(self) -> ActivityIn:
        now = dt.datetime.now(dt.UTC)
        if (
            not dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
            <= self.started_at
            <= now + dt.timedelta(days=1)
        ):
            raise ValueError("started_at must be after 1970 and not in the future")
        return self


class PlanIn(StrictModel):
    name: Name
    start_date: Day
    end_date: Day
    sessions_per_week: int = Field(ge=1, le=14)
    weekly_distance_m: float | None = Field(default=None, ge=0, le=MAX_DISTANCE_M)

    @model_validator(mode="after")
    def _ordered(self) -> PlanIn:
        if self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        return self


class GoalIn(StrictModel):
    race_name: Name
    race_date: Day
    distance_m: float = Field(gt=0, le=MAX_DISTANCE_M)
    target_time_s: int | None = Field(default=None, gt=0, le=MAX_DURATION_S)


class CheckinListQuery(BaseModel):
    """Query strings are text: lax mode parses "30" into 30 here."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    limit: int = Field(default=30, ge=1, le=100)
    before: Day | None = None


class ActivityListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    limit: int = Field(default=30, ge=1, le=100)
    before: AwareDatetime | None = None
