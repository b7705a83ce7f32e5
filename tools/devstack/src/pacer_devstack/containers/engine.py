"""The Docker engine and Compose v2, set up by tools/containers/ensure-engine.sh."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from pacer_devstack.config import REPO_ROOT

ENSURE_ENGINE = REPO_ROOT / "tools" / "containers" / "ensure-engine.sh"
COMPOSE = REPO_ROOT / ".tools" / "bin" / "docker-compose"
DOCKERD_PID = REPO_ROOT / ".pacer" / "containers" / "dockerd.pid"
# The engine's own client (Debian's docker.io, the daemon's version): it carries
# the BuildKit client the builds need, which a newer client elsewhere on PATH
# may lack (it wants a separate buildx plugin).
DOCKER = Path("/usr/bin/docker")
# ensure-engine.sh's exit code for "no engine can be had on this machine".
UNAVAILABLE = 3


class EngineUnavailable(RuntimeError):
    """No Docker engine can be had here; the message says why (tests skip with it)."""


def ensure_engine() -> int | None:
    """Install, start and wait for the engine and Compose; raise EngineUnavailable if impossible.
    Returns the pid of the dockerd it started, None when one was already running."""
    result = subprocess.run(["bash", str(ENSURE_ENGINE)], capture_output=True, text=True)
    if result.returncode == UNAVAILABLE:
        raise EngineUnavailable(result.stderr.strip().splitlines()[-1])
    if result.returncode != 0:
        raise RuntimeError(f"ensure-engine.sh failed ({result.returncode}):\n{result.stderr}")
    for line in result.stderr.splitlines():
        print(line, flush=True)
    if "starting dockerd" not in result.stderr:
        return None
    return int(DOCKERD_PID.read_text())


def stop_dockerd(pid: int, deadline_s: float = 30) -> None:
    """SIGTERM to a dockerd ``ensure_engine`` started, and wait until it has exited."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + deadline_s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)


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
