"""The bodies of the athlete's own saves (check-in, activity, plan, goal), validated strictly.

One definition for both ways a change is saved: core-api's routes (the athlete's
own PUT/POST) and the coach's proposal tools, whose arguments are validated with
these very models and whose apply stores them through the same SQL
(:mod:`pacer_common.tables.athlete_data`).

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
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from pacer_common.validation import free_text, has_visible, in_utc, one_line

MAX_DURATION_S = 7 * 86_400
MAX_DISTANCE_M = 10_000_000.0
# Distances are stored as numeric(10, 1): a positive distance below 0.05 m would
# round to 0.0 and fail the database's `> 0` check, so the smallest is 0.1 m.
MIN_POSITIVE_DISTANCE_M = 0.1


EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


def _plausible_date(value: dt.date) -> dt.date:
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValueError("must be between 1900-01-01 and 2200-12-31")
    return value


def _plausible_instant(value: dt.datetime) -> dt.datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError("must be between 1900 and 2200")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(one_line),
    AfterValidator(has_visible),
]
Note = Annotated[str, StringConstraints(max_length=2000), AfterValidator(free_text)]
Day = Annotated[dt.date, AfterValidator(_plausible_date)]
Instant = Annotated[AwareDatetime, AfterValidator(in_utc), AfterValidator(_plausible_instant)]
Sport = Literal["run", "ride", "swim", "strength", "other"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


class CheckinIn(StrictModel):
    sleep_hours: float = Field(ge=0, le=24)
    soreness: int = Field(ge=1, le=5)
    mood: int = Field(ge=1, le=5)
    note: Note | None = None
    date: Day | None = None

    # Field validators rather than model validators, here and below, so that the
    # error names the field: {"field": "date", ...}, not {"field": null, ...}.
    @field_validator("date")
    @classmethod
    def _not_in_future(cls, value: dt.date | None) -> dt.date | None:
        # A day ahead of UTC is allowed: it is already tomorrow east of Greenwich.
        if value is not None and value > dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1):
            raise ValueError("must not be in the future")
        return value


class ActivityIn(StrictModel):
    sport: Sport
    started_at: AwareDatetime
    duration_s: int = Field(gt=0, le=MAX_DURATION_S)
    distance_m: float | None = Field(default=None, ge=0, le=MAX_DISTANCE_M)
    avg_hr: int | None = Field(default=None, ge=30, le=250)
    note: Note | None = None

    @field_validator("started_at")
    @classmethod
    def _plausible_start(cls, value: dt.datetime) -> dt.datetime:
        now = dt.datetime.now(dt.UTC)
        if not dt.datetime(1970, 1, 1, tzinfo=dt.UTC) <= value <= now + dt.timedelta(days=1):
            raise ValueError("must be after 1970 and not in the future")
        return value


class PlanIn(StrictModel):
    name: Name
    start_date: Day
    end_date: Day
    sessions_per_week: int = Field(ge=1, le=14)
    weekly_distance_m: float | None = Field(default=None, ge=0, le=MAX_DISTANCE_M)

    @field_validator("end_date")
    @classmethod
    def _ordered(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("start_date")  # absent if start_date was invalid
        if start is not None and value < start:
            raise ValueError("must not be before start_date")
        return value


class GoalIn(StrictModel):
    race_name: Name
    race_date: Day
    distance_m: float = Field(ge=MIN_POSITIVE_DISTANCE_M, le=MAX_DISTANCE_M)
    target_time_s: int | None = Field(default=None, gt=0, le=MAX_DURATION_S)
