"""What the production Compose file promises about each container, checked on the running
ones: only Caddy published (on loopback here), read-only root file systems that hold, no
process running as root (issue 21)."""

from __future__ import annotations

import pytest

from containers.client import inspect, processes, run_in
from pacer_devstack.containers import stack as local
from pacer_devstack.containers.engine import docker
from pacer_devstack.containers.stack import LocalStack

pytestmark = pytest.mark.timeout(1800)
PACER_SERVICES = ("core-api", "coach", "briefing-worker")
# The local stack's one addition: the simulator's control API, on loopback too.
LOCAL_ONLY = {"llm-sim"}


def _running() -> list[dict[str, str]]:
    return [c for c in local.containers() if c["state"] == "running"]


def test_every_service_runs_with_its_replicas(containers: LocalStack) -> None:
    services = sorted(c["service"] for c in _running())
    assert services == sorted(
        [
            "caddy",
            "core-api",
            "core-api",
            "coach",
            "coach",
            "briefing-worker",
            "postgres",
            "redis",
            "llm-sim",
        ]
    )


def test_only_caddy_is_published_and_only_on_loopback(containers: LocalStack) -> None:
    published: dict[str, list[tuple[str, str]]] = {}
    for container in _running():
        ports = inspect(container["name"])["NetworkSettings"]["Ports"] or {}
        bindings = [
            (binding["HostIp"], binding["HostPort"])
            for bound in ports.values()
            if bound
            for binding in bound
        ]
        if bindings:
            published[container["service"]] = bindings
    assert published == {
        "caddy": [("127.0.0.1", str(containers.port))],
        "llm-sim": [("127.0.0.1", str(containers.llm_sim_port))],
    }
    # And nothing listens on the host for Postgres, Redis or a service port.
    listening = docker(
        "ps",
        "--filter",
        f"label=com.docker.compose.project={local.PROJECT}",
        "--format",
        "{{.Ports}}",
    )
    assert "0.0.0.0" not in listening and ":::" not in listening


@pytest.mark.parametrize("service", PACER_SERVICES)
def test_read_only_root_file_systems_hold(containers: LocalStack, service: str) -> None:
    for container in [c for c in _running() if c["service"] == service]:
        name = container["name"]
        host_config = inspect(name)["HostConfig"]
        assert host_config["ReadonlyRootfs"] is True
        assert host_config["CapDrop"] == ["ALL"]
        for path in ("/app/written", "/written", "/etc/written"):
            attempt = run_in(name, "python", "-c", f"open({path!r}, 'w')")
            assert attempt.returncode != 0 and "Read-only file system" in attempt.stderr, path
        # /tmp is the one writable place (a tmpfs).
        assert run_in(name, "python", "-c", "open('/tmp/ok', 'w')").returncode == 0
        # And no service tried to write where it cannot while it ran.
        logs = docker("logs", name, check=False)
        assert "Read-only file system" not in logs


def test_no_process_in_any_container_runs_as_root(containers: LocalStack) -> None:
    for container in _running():
        running = processes(container["name"])
        assert running, container["name"]
        as_root = [command for uid, command in running if uid == 0]
        assert not as_root, f"{container['name']}: {as_root}"
