"""What the services share about coaching sessions: the result schemas a topic
can name, a topic's conversation_config, and the closing marker.

Topics live in Postgres (migration 0006); their ``result_schema`` names one of
RESULT_SCHEMAS, so an extraction is validated by a pydantic model in code, never
stored free-form. The coach strips SESSION_END_MARKER from a reply and ends the
session; the briefing worker runs the extraction. A session's states and their
moves are :mod:`pacer_common.session_lifecycle`'s.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pacer_common.llm.registry import MODEL_REGISTRY

# What a topic's prompt asks the model to end its closing message with. The
# simulator's copy is pacer_llm_sim.control.SESSION_END_MARKER (a test keeps them equal).
SESSION_END_MARKER = "[[END_SESSION]]"

ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class _Result(BaseModel):
    # Unknown keys are the model inventing fields: refuse them, so a retry is asked for.
    model_config = ConfigDict(extra="forbid")


class OnboardingResult(_Result):
    race_name: ShortText
    race_date: dt.date
    distance_m: Annotated[float, Field(ge=0.1, le=1_000_000)]
    target_time_s: Annotated[int, Field(gt=0, le=7 * 24 * 3600)] | None = None
    sessions_per_week: Annotated[int, Field(ge=0, le=21)]
    injuries: Annotated[list[ShortText], Field(max_length=20)]


class RaceDebriefResult(_Result):
    race_name: ShortText
    finish_time_s: Annotated[int, Field(gt=0, le=7 * 24 * 3600)] | None = None
    effort: Annotated[int, Field(ge=1, le=10)]
    went_well: Annotated[list[ShortText], Field(max_length=20)]
    to_improve: Annotated[list[ShortText], Field(max_length=20)]


RESULT_SCHEMAS: dict[str, type[_Result]] = {
    "onboarding": OnboardingResult,
    "race_debrief": RaceDebriefResult,
}


class ConversationConfig(BaseModel):
    """A topic's ``conversation_config``. An unknown model code is refused with
    the valid ones listed (the admin route's 422)."""

    model_config = ConfigDict(extra="forbid")

    extraction_model_code: str = "CLAUDE_HAIKU"
    max_turns: Annotated[int, Field(ge=1, le=50)] = 8

    @field_validator("extraction_model_code")
    @classmethod
    def _known_model(cls, code: str) -> str:
        if code not in MODEL_REGISTRY:
            valid = ", ".join(sorted(MODEL_REGISTRY))
            raise ValueError(f"unknown model code {code!r}; valid codes: {valid}")
        return code


def validate_result(schema: str, data: Any) -> dict[str, Any]:
    """``data`` checked against the named schema, as JSON-ready values.

    Raises pydantic.ValidationError (invalid) or KeyError (unknown schema name).
    """
    model = RESULT_SCHEMAS[schema].model_validate(data)
    return model.model_dump(mode="json")
