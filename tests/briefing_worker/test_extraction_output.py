"""What the extraction job accepts from the model: one JSON object of the topic's
schema, optionally in a code fence; everything else is InvalidOutput, with a
reason the admin can read. And what it asks: the schema, in the prompt."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from fixtures.extraction import VALID_ONBOARDING, VALIDATED_ONBOARDING
from pacer_briefing_worker.extraction import InvalidOutput, instructions, parse_output
from pacer_common.topics import RESULT_SCHEMAS

OBJECT = json.dumps(VALID_ONBOARDING)


@pytest.mark.parametrize(
    "text",
    [
        OBJECT,
        f"  {OBJECT}\n",
        f"```json\n{OBJECT}\n```",
        f"```\n{OBJECT}\n```",
        f"```JSON {OBJECT}```",
        f"\n```json\n{json.dumps(VALID_ONBOARDING, indent=2)}\n```\n",
    ],
    ids=["bare", "padded", "json-fence", "bare-fence", "one-line-fence", "indented"],
)
def test_valid_output_bare_or_fenced(text: str) -> None:
    assert parse_output("onboarding", text) == VALIDATED_ONBOARDING


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not JSON"),
        ("Here you go: " + OBJECT, "not JSON"),
        (OBJECT + " Hope that helps!", "not JSON"),
        ("```json\n" + OBJECT, "not JSON"),  # an unclosed fence
        ("[" + OBJECT + "]", "not a JSON object but list"),
        ('"Berlin"', "not a JSON object but str"),
        ("null", "not a JSON object but NoneType"),
        (json.dumps({**VALID_ONBOARDING, "race_date": "next spring"}), "race_date"),
        (json.dumps({**VALID_ONBOARDING, "injuries": "none"}), "injuries"),
        (json.dumps({k: v for k, v in VALID_ONBOARDING.items() if k != "race_name"}), "race_name"),
        (json.dumps({**VALID_ONBOARDING, "mood": "great"}), "mood"),
        (json.dumps({**VALID_ONBOARDING, "race_name": "x" * 201}), "race_name"),
        ("{" + '"a":' * 10 + "1" + "}" * 10, "not JSON"),
    ],
)
def test_invalid_output_says_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidOutput) as raised:
        parse_output("onboarding", text)
    assert reason in str(raised.value)


@pytest.mark.parametrize("schema", sorted(RESULT_SCHEMAS))
def test_the_prompt_holds_the_schema_and_today(schema: str) -> None:
    prompt = instructions(schema, dt.date(2026, 12, 1))
    json_schema = json.dumps(RESULT_SCHEMAS[schema].model_json_schema(), separators=(",", ":"))
    assert json_schema in prompt
    assert "ONLY one JSON object" in prompt and "2026-12-01" in prompt
