"""Start and stop a real dev stack (`make run`) on free ports: used by the tests and the benchmark."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pacer_devstack.config import REPO_ROOT


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all probes stay bound until every port is picked."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


READY_DEADLINE_S = 120.0
STOP_DEADLINE_S = 10.0
PORT_VARIABLES = (
    "PACER_HTTP_PORT",
    "LLM_SIM_PORT",
    "CORE_API_PORT",
    "CORE_API_METRICS_PORT",
    "COACH_PORT",
    "COACH_METRICS_PORT",
    "BRIEFING_WORKER_PORT",
    "POSTGRES_PORT",
    "REDIS_PORT",
)


@dataclass
class Stack:
    process: subprocess.Popen[str]
    env: dict[str, str]
    data_dir: Path
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['PACER_HTTP_PORT']}"

    def port(self, name: str) -> int:
        return int(self.env[name])

    def pids(self) -> dict[int, str]:
        """Every live process of this stack: the descendants of `make run`, and any
        orphan recognised by its environment, data folder or port (Valkey and
        Postgres rewrite their titles over the environment)."""
        marker = f"PACER_DATA_DIR={self.data_dir}".encode()
        needles = (str(self.data_dir), f"127.0.0.1:{self.env['REDIS_PORT']}")
        commands: dict[int, str] = {}
        parents: dict[int, int] = {}
        found: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                stat = (entry / "stat").read_text()
                environ = (entry / "environ").read_bytes().split(b"\0")
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            if not command:  # a zombie or a kernel thread
                continue
            commands[pid] = command
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
            if marker in environ or any(needle in command for needle in needles):
                found.add(pid)
        if self.process.poll() is None:
            found.add(self.process.pid)
        grew = True
        while grew:
            children = {pid for pid, parent in parents.items() if parent in found} - found
            found |= children
            grew = bool(children)
        return {pid: commands[pid] for pid in found if pid in commands}

    def open_ports(self) -> list[int]:
        ports = []
        for name in PORT_VARIABLES:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", int(self.env[name]))) == 0:
                    ports.append(int(self.env[name]))
        return ports

    def pid_of(self, needle: str) -> int:
        matches = [pid for pid, cmd in self.pids().items() if needle in cmd]
        assert len(matches) >= 1, f"no process matching {needle!r}"
        return min(matches)

    def stop(self) -> float:
        """SIGTERM to `make run`, as a user's Ctrl-C or a supervisor would; return seconds taken."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_DEADLINE_S + 5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise
        took = time.monotonic() - started
        deadline = started + STOP_DEADLINE_S + 5
        while (self.pids() or self.open_ports()) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.reader is not None:
            self.reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return took


def start_stack(data_dir: Path, extra_env: dict[str, str] | None = None) -> Stack:
    env = {key: value for key, value in os.environ.items() if key not in PORT_VARIABLES}
    for name in ("DATABASE_URL", "REDIS_URL", "JWT_PRIVATE_KEY_FILE", "JWT_PUBLIC_KEY_FILE"):
        env.pop(name, None)
    env.update(zip(PORT_VARIABLES, map(str, free_ports(len(PORT_VARIABLES))), strict=True))
    env["PACER_DATA_DIR"] = str(data_dir)
    env.update(extra_env or {})
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    stack = Stack(process=process, env=env, data_dir=data_dir)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stack.lines.append(line)
            lines.put(line)
        lines.put(None)

    stack.reader = threading.Thread(target=pump, daemon=True)
    stack.reader.start()
    deadline = time.monotonic() + READY_DEADLINE_S
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = ""
        if line is None or time.monotonic() > deadline:
            stack.stop()
            raise RuntimeError("stack did not get ready:\n" + "".join(stack.lines[-40:]))
        if line.startswith("pacer ready"):
            assert stack.url in line
            return stack
