"""Each service's load-shedding settings: sound defaults, and a threshold or
window that could never or always shed stops start-up, naming the setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from fixtures.coach import coach_settings
from fixtures.core_api import core_api_settings
from fixtures.processes import bare_environment, run_module
from fixtures.worker import worker_values
from pacer_briefing_worker.settings import BriefingWorkerSettings
from pacer_coach.settings import CoachSettings
from pacer_core_api.settings import CoreApiSettings

DB = "postgresql://pacer:s3cret@127.0.0.1:1/pacer"
REDIS = "redis://127.0.0.1:1/0"
SIM = "http://127.0.0.1:1"
PREFIXES = ["CORE_API", "COACH", "BRIEFING_WORKER"]


def _settings(prefix: str, keys: tuple[Path, Path], **overrides: Any) -> object:
    if prefix == "CORE_API":
        return core_api_settings(DB, REDIS, keys, **overrides)
    if prefix == "COACH":
        return coach_settings(DB, keys, SIM, **overrides)
    return BriefingWorkerSettings(**worker_values(DB, REDIS, SIM, **overrides))


@pytest.mark.parametrize(
    ("settings_class", "prefix"),
    [
        (CoreApiSettings, "CORE_API"),
        (CoachSettings, "COACH"),
        (BriefingWorkerSettings, "BRIEFING_WORKER"),
    ],
)
def test_every_service_sheds_after_a_second_of_a_quarter_second_late_loop(
    settings_class: type[Any], prefix: str
) -> None:
    fields = settings_class.model_fields
    assert fields[f"{prefix}_SHED_LOOP_LAG_SECONDS"].default == 0.25
    assert fields[f"{prefix}_SHED_LOOP_LAG_SAMPLES"].default == 4


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(
    ("suffix", "value"),
    [
        ("SHED_LOOP_LAG_SECONDS", -0.1),
        ("SHED_LOOP_LAG_SECONDS", 0),  # 0 would shed on any lag at all
        ("SHED_LOOP_LAG_SECONDS", 61),
        ("SHED_LOOP_LAG_SAMPLES", 0),
        ("SHED_LOOP_LAG_SAMPLES", -3),
        ("SHED_LOOP_LAG_SAMPLES", 101),
    ],
)
def test_a_bad_shedding_setting_is_a_settings_error(
    jwt_key_files: tuple[Path, Path], prefix: str, suffix: str, value: float
) -> None:
    name = f"{prefix}_{suffix}"
    with pytest.raises(ValidationError) as raised:
        _settings(prefix, jwt_key_files, **{name: value})
    assert [error["loc"] for error in raised.value.errors()] == [(name,)]


def test_a_negative_threshold_stops_core_api_with_a_message_naming_it(
    jwt_key_files: tuple[Path, Path],
) -> None:
    private_key, public_key = jwt_key_files
    env = bare_environment(
        DATABASE_URL=DB,
        REDIS_URL=REDIS,
        JWT_PRIVATE_KEY_FILE=str(private_key),
        JWT_PUBLIC_KEY_FILE=str(public_key),
        CORE_API_SHED_LOOP_LAG_SECONDS="-1",
    )
    result = run_module("pacer_core_api", env=env, timeout_s=30)
    assert result.returncode == 2
    assert "  CORE_API_SHED_LOOP_LAG_SECONDS: " in result.stderr
    assert "Traceback" not in result.stderr
