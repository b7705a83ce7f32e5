"""What the container tests do to the stack: an HTTPS client through Caddy, SSE read
incrementally, the simulator's control API, and faults made with the engine itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from fixtures.waiting import poll_sync
from pacer_devstack.containers import stack as local
from pacer_devstack.containers.engine import docker

PASSWORD = "correct horse battery"


@dataclass
class Event:
    id: str | None
    name: str
    data: dict[str, Any]


@dataclass
class Athlete:
    email: str
    token: str
    expires_in: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def https(running: local.LocalStack, timeout: float = 30) -> httpx.Client:
    """A client of the stack's only entry: Caddy's TLS, verified against Caddy's own root."""
    return httpx.Client(base_url=running.url, verify=running.tls(), timeout=timeout)


def new_athlete(http: httpx.Client) -> Athlete:
    email = f"runner-{uuid.uuid4().hex[:12]}@example.com"
    account = {"email": email, "password": PASSWORD, "name": "Runner"}
    registered = http.post("/v1/auth/register", json=account)
    assert registered.status_code == 201, registered.text
    login = http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return Athlete(email, str(login.json()["access_token"]), int(login.json()["expires_in"]))


def sse_events(lines: Iterator[str]) -> Iterator[Event]:
    """Events of an SSE body as its lines arrive (comments and pings skipped)."""
    event_id: str | None = None
    name = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield Event(event_id, name, json.loads("\n".join(data)))
            event_id, name, data = None, "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


@dataclass
class Reply:
    """What a client saw of one reply, over as many connections as it took."""

    events: list[Event] = field(default_factory=list)

    @property
    def message_id(self) -> str:
        return str(self.events[0].data["message_id"])

    @property
    def conversation_id(self) -> str:
        return str(self.events[0].data["conversation_id"])

    @property
    def last_id(self) -> str | None:
        ids = [event.id for event in self.events if event.id]
        return ids[-1] if ids else None

    @property
    def text(self) -> str:
        return "".join(str(e.data.get("text", "")) for e in self.events if e.name == "delta")

    @property
    def done(self) -> Event | None:
        return next((e for e in self.events if e.name == "done"), None)


def events_of(response: httpx.Response) -> Iterator[Event]:
    """The response's events; one iterator per response, read in as many calls as needed."""
    return sse_events(response.iter_lines())


def read_until(
    events: Iterator[Event], reply: Reply, stop: Callable[[Reply], bool] | None = None
) -> None:
    """Append the stream's events to ``reply`` until ``done``, the connection's end, or
    ``stop(reply)``; a connection cut mid-stream is a normal end here."""
    try:
        for event in events:
            reply.events.append(event)
            if event.name == "done" or (stop is not None and stop(reply)):
                return
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return


def resume(http: httpx.Client, athlete: Athlete, reply: Reply, deadline_s: float = 60) -> None:
    """Follow the reply from the last event seen (Last-Event-ID) until its `done`,
    reconnecting while the coaches come and go."""
    deadline = time.monotonic() + deadline_s
    while reply.done is None:
        assert time.monotonic() < deadline, f"no done within {deadline_s} s: {reply.events[-3:]}"
        headers = dict(athlete.headers)
        if reply.last_id:
            headers["Last-Event-ID"] = reply.last_id
        try:
            with http.stream(
                "GET", f"/v1/coach/messages/{reply.message_id}/stream", headers=headers
            ) as response:
                if response.status_code != 200:
                    response.read()
                    time.sleep(0.5)  # pacing between reconnects, as a client's backoff
                    continue
                read_until(events_of(response), reply)
        except httpx.TransportError:
            time.sleep(0.5)  # the same backoff after a cut connection


def stored_message(http: httpx.Client, athlete: Athlete, reply: Reply) -> dict[str, Any]:
    conversation = http.get(
        f"/v1/coach/conversations/{reply.conversation_id}", headers=athlete.headers
    )
    assert conversation.status_code == 200, conversation.text
    (message,) = [m for m in conversation.json()["messages"] if m["id"] == reply.message_id]
    return dict(message)


def wait_settled(
    http: httpx.Client, athlete: Athlete, reply: Reply, deadline_s: float = 30
) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        message = stored_message(http, athlete, reply)
        return message if message["status"] != "streaming" else None

    return poll_sync(settled, timeout_s=deadline_s, what="the reply to be stored")


def sim_mode(running: local.LocalStack, **mode: object) -> None:
    httpx.post(f"{running.llm_sim_url}/_sim/mode", json=mode, timeout=10).raise_for_status()


def sim_reset(running: local.LocalStack) -> None:
    httpx.post(f"{running.llm_sim_url}/_sim/reset", timeout=10).raise_for_status()


# --- the engine's view ----------------------------------------------------------------------


def container_names(service: str) -> list[str]:
    return sorted(
        c["name"] for c in local.containers() if c["service"] == service and c["state"] == "running"
    )


def inspect(name: str) -> dict[str, Any]:
    (found,) = json.loads(docker("inspect", name))
    return dict(found)


def crash(name: str) -> None:
    """SIGKILL to the container's first process from the host: a crash, not a `docker
    stop`/`kill`, so the restart policy (unless-stopped) applies as it would in production."""
    pid = int(inspect(name)["State"]["Pid"])
    assert pid > 0, f"{name} is not running"
    os.kill(pid, signal.SIGKILL)


def wait_healthy(name: str, deadline_s: float = 90) -> None:
    def healthy() -> bool:
        state = inspect(name)["State"]
        return bool(
            state["Status"] == "running" and state.get("Health", {}).get("Status") == "healthy"
        )

    poll_sync(healthy, timeout_s=deadline_s, interval_s=0.5, what=f"{name} healthy again")


def compose(running: local.LocalStack, *args: str, timeout: float = 120) -> str:
    return local.compose(running, None, *args, timeout=timeout)


def memory_bytes(names: list[str]) -> dict[str, int]:
    """Each container's memory as its cgroup counts it, less the page cache (`docker stats`)."""
    out = docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", *names)
    used: dict[str, int] = {}
    for line in out.splitlines():
        name, usage = line.split(" ", 1)
        used[name] = _bytes(usage.split("/")[0].strip())
    return used


_UNITS = {
    "B": 1,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "kB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
}


def _bytes(text: str) -> int:
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * _UNITS[unit])
    raise ValueError(f"not a size: {text!r}")


def processes(name: str) -> list[tuple[int, str]]:
    """(uid, command) of every process in the container, as the host sees them."""
    out = docker("top", name, "-eo", "pid,uid,args")  # the engine needs the pid column
    rows = []
    for line in out.splitlines()[1:]:
        _pid, uid, command = line.split(maxsplit=2)
        rows.append((int(uid), command))
    return rows


def run_in(name: str, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/usr/bin/docker", "exec", name, *command], capture_output=True, text=True, timeout=30
    )
