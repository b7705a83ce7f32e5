"""Each service installs alone, from the lockfile, with only its own dependencies.

uv cannot stop one workspace member from importing another's dependency, so
this installs each service into an empty environment and imports it there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
UV = REPO_ROOT / ".tools" / "bin" / "uv"

SERVICES = {
    # package: (module to import, modules that must NOT be installed)
    "pacer-core-api": (
        "pacer_core_api.app",
        ["anthropic", "openai", "pacer_briefing_worker", "pacer_devstack", "supervisor"],
    ),
    "pacer-coach": (
        "pacer_coach.app",
        [
            "pacer_core_api",
            "pacer_briefing_worker",
            "argon2",
            # arq is installed on purpose: the coach queues extraction jobs (issue 12).
            "rich",
            # Replaced by pacer_coach/sse.py (bytes encoded once, no task group per event).
            "sse_starlette",
            "pacer_devstack",
            "supervisor",
        ],
    ),
    "pacer-briefing-worker": (
        "pacer_briefing_worker.worker",
        [
            "pacer_core_api",
            "pacer_coach",
            "sse_starlette",
            "argon2",
            "pacer_devstack",
            "supervisor",
        ],
    ),
    "pacer-llm-sim": (
        "pacer_llm_sim.app",
        ["asyncpg", "redis", "anthropic", "openai", "pacer_common"],
    ),
}


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_service_installs_alone(package: str, tmp_path: Path) -> None:
    module, absent = SERVICES[package]
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"),
        "UV_PYTHON": sys.executable,
        "UV_PYTHON_DOWNLOADS": "never",
    }
    sync = subprocess.run(
        [str(UV), "sync", "--locked", "--offline", "--no-dev", "--package", package],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert sync.returncode == 0, sync.stderr
    probe = (
        "import importlib, importlib.util, sys\n"
        f"importlib.import_module({module!r})\n"
        f"present = [m for m in {absent!r} if importlib.util.find_spec(m)]\n"
        "sys.exit(f'installed but not needed: {present}' if present else 0)\n"
    )
    result = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr + result.stdout
