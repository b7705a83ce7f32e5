"""The worker refuses to start on bad settings, naming the variable and exiting 2."""

from __future__ import annotations

import subprocess

import pytest

from fixtures.processes import bare_environment, run_module

BASE = {
    "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "ANTHROPIC_API_KEY": "k",
    "OPENAI_API_KEY": "k",
}


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_module("pacer_briefing_worker", env=bare_environment(**env))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BRIEFING_MODEL", "GPT_9000"),
        ("BRIEFING_REFRESH_EVERY_MINUTES", "7"),
        ("JOB_TIMEOUT_SECONDS", "0"),
        ("JOB_MAX_ATTEMPTS", "0"),
        ("REAPER_INTERVAL_SECONDS", "-1"),
        ("ALERT_WEBHOOK_URL", "not a url"),
        ("BRIEFING_WORKER_PORT", "70000"),
        ("JOB_HEARTBEAT_TIMEOUT_SECONDS", "1"),
    ],
)
def test_bad_settings_stop_the_worker_with_a_clear_message(name: str, value: str) -> None:
    result = _start({**BASE, name: value})
    assert result.returncode == 2, result.stderr
    assert "BriefingWorkerSettings: invalid configuration" in result.stderr
    assert name.split("_")[0] in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_database_url_is_named() -> None:
    env = dict(BASE)
    del env["DATABASE_URL"]
    result = _start(env)
    assert result.returncode == 2
    assert "DATABASE_URL: required but not set" in result.stderr


def test_the_briefing_model_needs_its_provider_configured() -> None:
    env = {**BASE, "BRIEFING_MODEL": "GPT_MINI", "LLM_FALLBACK_ORDER": "CLAUDE_HAIKU"}
    del env["OPENAI_API_KEY"]
    result = _start(env)
    assert result.returncode == 2
    assert "openai" in result.stderr
