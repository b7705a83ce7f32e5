"""core-api refuses to start on bad configuration, with a message that names the setting."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixtures.processes import bare_environment, run_module


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_module("pacer_core_api", env=bare_environment(**env), timeout_s=30)


@pytest.fixture
def valid_env(jwt_key_files: tuple[Path, Path]) -> dict[str, str]:
    private_key, public_key = jwt_key_files
    return {
        "DATABASE_URL": "postgresql://pacer:s3cret-password@127.0.0.1:1/pacer",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "JWT_PRIVATE_KEY_FILE": str(private_key),
        "JWT_PUBLIC_KEY_FILE": str(public_key),
    }


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL", "JWT_PRIVATE_KEY_FILE"])
def test_a_missing_required_setting_stops_start_up(valid_env: dict[str, str], missing: str) -> None:
    env = {key: value for key, value in valid_env.items() if key != missing}
    result = _start(env)
    assert result.returncode == 2
    assert f"{missing}: required but not set" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CORE_API_PORT", "eighty"),
        ("CORE_API_PORT", "70000"),
        ("CORE_API_WORKERS", "0"),
        ("LOG_LEVEL", "LOUD"),
        ("JWT_PUBLIC_KEY_FILE", "/nonexistent/key.pem"),
        ("ACCESS_TOKEN_TTL_SECONDS", "-1"),
        ("TRUSTED_PROXIES", "127.0.0.1,caddy-host"),
    ],
)
def test_a_malformed_setting_stops_start_up(
    valid_env: dict[str, str], name: str, value: str
) -> None:
    result = _start({**valid_env, name: value})
    assert result.returncode == 2
    assert f"  {name}: " in result.stderr
    assert "Traceback" not in result.stderr


def test_the_message_never_echoes_secret_values(valid_env: dict[str, str]) -> None:
    result = _start({**valid_env, "CORE_API_PORT": "bad"})
    assert "s3cret-password" not in result.stderr + result.stdout


@pytest.mark.parametrize("service", ["core-api", "coach", "briefing-worker"])
def test_env_example_lists_every_setting(service: str) -> None:
    from pydantic_settings import BaseSettings

    from pacer_briefing_worker.settings import BriefingWorkerSettings
    from pacer_coach.settings import CoachSettings
    from pacer_core_api.settings import CoreApiSettings

    settings_classes: dict[str, type[BaseSettings]] = {
        "core-api": CoreApiSettings,
        "coach": CoachSettings,
        "briefing-worker": BriefingWorkerSettings,
    }
    settings_class = settings_classes[service]
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in example.splitlines()
        if "=" in line and not line.startswith("##")
    }
    missing = set(settings_class.model_fields) - documented
    assert not missing, f".env.example does not document: {sorted(missing)}"
