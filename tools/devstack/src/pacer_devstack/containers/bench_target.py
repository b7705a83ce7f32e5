"""The containers as a target of `make bench-storm ARGS="--target containers"`.

What the dev stack's benchmark reads from its processes and ports, read here
from the engine instead: CPU per container from its cgroup, the coach's open
streams from each replica's metrics port (asked inside the container: it is
not published), the jobs ledger through `psql` in the Postgres container, and
the simulator restarted with `docker restart`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from pacer_devstack.config import DEV_SIGNUP_LIMITS
from pacer_devstack.containers import stack as local
from pacer_devstack.containers.engine import DOCKER, docker, ensure_engine
from pacer_devstack.containers.images import ensure_images

CPUACCT = Path("/sys/fs/cgroup/cpuacct/docker")
CPU_CONTROLLER = Path("/sys/fs/cgroup/cpu/docker")
CGROUP_MEMORY = Path("/sys/fs/cgroup/memory/docker")
MEMORY_SAMPLE_S = 0.25
METRICS = (
    "import urllib.request; "
    "print(urllib.request.urlopen('http://127.0.0.1:9102/metrics', timeout=5).read().decode())"
)


def memory_now(container_id: str) -> int:
    """A container's memory as `docker stats` counts it: usage less inactive page cache
    (cgroup v1's usage_in_bytes less total_inactive_file; cgroup v2's equivalents)."""
    folder = CGROUP_MEMORY / container_id
    if folder.is_dir():
        usage = int((folder / "memory.usage_in_bytes").read_text())
        stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
        return usage - int(stat.get("total_inactive_file", 0))
    unified = Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope")
    usage = int((unified / "memory.current").read_text())
    stat = dict(line.split() for line in (unified / "memory.stat").read_text().splitlines())
    return usage - int(stat.get("inactive_file", 0))


class MemorySampler(threading.Thread):
    """Each container's peak memory (:func:`memory_now`) every MEMORY_SAMPLE_S until ``stop``."""

    def __init__(self, ids: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.ids = ids  # name -> full container id
        self.peaks = dict.fromkeys(ids, 0)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for name, container_id in self.ids.items():
                # A container may be gone between two samples.
                with contextlib.suppress(OSError):
                    self.peaks[name] = max(self.peaks[name], memory_now(container_id))
            self.stop.wait(MEMORY_SAMPLE_S)


@dataclass
class ContainerStack:
    """The running production stack, as bench_storm uses a dev stack."""

    running: local.LocalStack

    @property
    def url(self) -> str:
        return self.running.url

    def port(self, name: str) -> int:
        if name != "LLM_SIM_PORT":
            raise KeyError(f"the containers publish no {name}")
        return self.running.llm_sim_port

    def stop(self) -> None:
        local.down(self.running)

    def _running(self, service: str | None = None) -> list[dict[str, str]]:
        return [
            c
            for c in local.containers()
            if c["state"] == "running" and (service is None or c["service"] == service)
        ]

    def container_ids(self) -> dict[str, tuple[str, str]]:
        """Each running container's name -> (full id, Compose service)."""
        return {
            c["name"]: (docker("inspect", "--format", "{{.Id}}", c["id"]).strip(), c["service"])
            for c in self._running()
        }

    def cpu_seconds(self) -> dict[str, tuple[str, float]]:
        """CPU seconds so far by container id, with its Compose service (cgroup v1 cpuacct)."""
        found = {}
        for container in self._running():
            full_id = docker("inspect", "--format", "{{.Id}}", container["id"]).strip()
            usage = CPUACCT / full_id / "cpuacct.usage"
            try:
                found[full_id] = (container["service"], int(usage.read_text()) / 1e9)
            except OSError:
                continue  # gone meanwhile, or not cgroup v1
        return found

    def throttling(self) -> dict[str, tuple[str, int, int]]:
        """By container id: its Compose service, CFS periods so far and periods in which
        its ``cpus`` quota ran out (cgroup v1 cpu.stat): a container throttled in a
        period waits for the next one, up to 100 ms, whatever its shares."""
        found = {}
        for container in self._running():
            full_id = docker("inspect", "--format", "{{.Id}}", container["id"]).strip()
            try:
                text = (CPU_CONTROLLER / full_id / "cpu.stat").read_text()
            except OSError:
                continue  # gone meanwhile, or not cgroup v1
            stat = dict(line.split() for line in text.splitlines())
            found[full_id] = (
                container["service"],
                int(stat.get("nr_periods", 0)),
                int(stat.get("nr_throttled", 0)),
            )
        return found

    def coach_open_streams(self) -> int:
        total = 0
        for container in self._running("coach"):
            out = docker("exec", container["name"], "python", "-c", METRICS)
            for line in out.splitlines():
                if line.startswith("coach_open_streams "):
                    total += int(float(line.split()[1]))
        return total

    def wait_streams_closed(self, deadline_s: float = 120.0) -> None:
        deadline = time.monotonic() + deadline_s
        while self.coach_open_streams():
            if time.monotonic() > deadline:
                raise RuntimeError("the coaches' streams did not close")
            time.sleep(0.5)

    def jobs_running(self) -> int:
        (postgres,) = self._running("postgres")
        out = subprocess.run(
            [
                str(DOCKER),
                "exec",
                postgres["name"],
                "psql",
                "-U",
                "pacer",
                "-d",
                "pacer",
                "-tAc",
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'processing')",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return int(out.strip())

    def cut_llm_calls(self) -> None:
        """Restart the simulator's container, as a provider outage would (see bench_reply_log)."""
        for container in self._running("llm-sim"):
            docker("restart", "--time", "1", container["name"])
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.running.llm_sim_url}/health", timeout=2).is_success:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator's container did not come back")
            time.sleep(0.2)


def start_containers(settings: Mapping[str, str], coach_replicas: int) -> ContainerStack:
    """`make containers-up` with ``settings`` passed to the services; clients of this
    process (and its children) then trust Caddy's internal root (SSL_CERT_FILE)."""
    ensure_engine()
    images = ensure_images()
    running = local.LocalStack(
        port=local.local_stack_from_env().port,
        llm_sim_port=local.local_stack_from_env().llm_sim_port,
        coach_replicas=coach_replicas,
    )
    local.up(running, images, {**os.environ, **DEV_SIGNUP_LIMITS, **settings})
    os.environ["SSL_CERT_FILE"] = str(running.ca_file)
    return ContainerStack(running)
