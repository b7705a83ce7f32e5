"""The Docker engine and Compose v2, set up by tools/containers/ensure-engine.sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pacer_devstack.config import REPO_ROOT

ENSURE_ENGINE = REPO_ROOT / "tools" / "containers" / "ensure-engine.sh"
COMPOSE = REPO_ROOT / ".tools" / "bin" / "docker-compose"
# The engine's own client (Debian's docker.io, the daemon's version): it carries
# the BuildKit client the builds need, which a newer client elsewhere on PATH
# may lack (it wants a separate buildx plugin).
DOCKER = Path("/usr/bin/docker")
# ensure-engine.sh's exit code for "no engine can be had on this machine".
UNAVAILABLE = 3


class EngineUnavailable(RuntimeError):
    """No Docker engine can be had here; the message says why (tests skip with it)."""


def ensure_engine() -> None:
    """Install, start and wait for the engine and Compose; raise EngineUnavailable if impossible."""
    result = subprocess.run(["bash", str(ENSURE_ENGINE)], capture_output=True, text=True)
    if result.returncode == UNAVAILABLE:
        raise EngineUnavailable(result.stderr.strip().splitlines()[-1])
    if result.returncode != 0:
        raise RuntimeError(f"ensure-engine.sh failed ({result.returncode}):\n{result.stderr}")
    for line in result.stderr.splitlines():
        print(line, flush=True)


def docker(*args: str, check: bool = True, capture: bool = True) -> str:
    """Run the engine's client; its stdout (when captured)."""
    result = subprocess.run(
        [str(DOCKER), *args],
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
        text=True,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout or ""


def image_exists(tag: str) -> bool:
    return (
        subprocess.run(
            [str(DOCKER), "image", "inspect", tag],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ).returncode
        == 0
    )
