"""The shared coaching-session definitions: result schemas, topic config, marker."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pacer_common.topics import (
    RESULT_SCHEMAS,
    SESSION_END_MARKER,
    ConversationConfig,
    validate_result,
)
from pacer_llm_sim.control import SESSION_END_MARKER as SIM_MARKER


def test_the_simulator_ends_sessions_with_the_coach_marker() -> None:
    assert SIM_MARKER == SESSION_END_MARKER


def test_onboarding_result_is_validated_and_json_ready() -> None:
    result = validate_result(
        "onboarding",
        {
            "race_name": "Berlin Marathon",
            "race_date": "2027-09-26",
            "distance_m": 42195,
            "sessions_per_week": 4,
            "injuries": ["left achilles"],
        },
    )

    assert result["race_date"] == "2027-09-26"
    assert result["target_time_s"] is None


@pytest.mark.parametrize(
    "data",
    [
        {"race_name": "X", "effort": 11, "went_well": [], "to_improve": []},
        {"race_name": "X", "effort": 5, "went_well": [], "to_improve": [], "mood": "happy"},
        {"race_name": "", "effort": 5, "went_well": [], "to_improve": []},
        {"effort": 5, "went_well": [], "to_improve": []},
        ["not", "an", "object"],
    ],
)
def test_invalid_race_debrief_results_are_refused(data: Any) -> None:
    with pytest.raises(ValidationError):
        validate_result("race_debrief", data)


def test_every_seeded_schema_name_is_known() -> None:
    assert set(RESULT_SCHEMAS) == {"onboarding", "race_debrief"}


def test_unknown_model_code_lists_the_valid_ones() -> None:
    with pytest.raises(ValidationError) as raised:
        ConversationConfig.model_validate({"extraction_model_code": "GPT_9"})

    assert "GPT_MINI" in str(raised.value) and "CLAUDE_HAIKU" in str(raised.value)


def test_config_defaults_and_bounds() -> None:
    assert ConversationConfig().max_turns == 8
    with pytest.raises(ValidationError):
        ConversationConfig.model_validate({"max_turns": 0})
