"""deploy/.env.prod.example, filled in as the runbook says, starts every service:
Compose's env_file passes `NAME=` as an empty string, which must mean "unset"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.model import DEPLOY

SETTINGS = {
    "core-api": "pacer_core_api.settings:CoreApiSettings",
    "coach": "pacer_coach.settings:CoachSettings",
    "briefing-worker": "pacer_briefing_worker.settings:BriefingWorkerSettings",
}


def _example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / ".env.prod.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_the_example_env_file_starts_the_service(service: str, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not read by the settings, only checked to exist")
    example = _example()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **example,
        # What the operator fills in (RUNBOOK.md, "First deploy") and the Compose file sets.
        # The runbook's sed replaces the password placeholder (ENVIRONMENT=production refuses it).
        "DATABASE_URL": example["DATABASE_URL"].replace("CHANGE_ME_DB_PASSWORD", "s3cret"),
        "ANTHROPIC_API_KEY": "sk-ant-filled-in",
        "OPENAI_API_KEY": "sk-filled-in",
        "JWT_PRIVATE_KEY_FILE": str(key),
        "JWT_PUBLIC_KEY_FILE": str(key),
    }
    module, name = SETTINGS[service].split(":")
    result = subprocess.run(
        [sys.executable, "-c", f"from {module} import {name}; {name}(); print('ok')"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_an_empty_value_means_unset_not_invalid(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": "postgresql://x@127.0.0.1/x",
        "REDIS_URL": "redis://127.0.0.1/0",
        "ANTHROPIC_API_KEY": "k",
        "OPENAI_API_KEY": "k",
        "ALERT_WEBHOOK_URL": "",
        "MODEL_FREE": "",
    }
    script = (
        "from pacer_briefing_worker.settings import BriefingWorkerSettings as S; s = S(); "
        "print(s.ALERT_WEBHOOK_URL, s.MODEL_FREE)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["None", "None"]
