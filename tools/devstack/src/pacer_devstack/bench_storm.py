"""``make bench-storm``: home and health beside hung, then flowing, chat streams (issue 14).

One fresh stack on free ports, four phases of ``--seconds`` each:

    idle       nothing but the probes
    hung       ``--streams`` chats and ``--jobs`` briefing refreshes hanging on the LLM
    N tok/s    ``--streams`` replies streaming at each ``--rates`` tokens/s per stream

In every phase: /v1/home and /health p50/p99 through Caddy (slices of
``--slice`` seconds back to back, wrk when present; a phase's figure is the
median of its slices'), delta events and tokens/s delivered to the clients
against the simulator's rate, each process's CPU (from /proc) and the coach's
µs of CPU per relayed token. The probes, the chat load generator
(pacer_devstack.sse_load) and the simulator stand in for machines elsewhere.
The load generator and the simulator, which are heavy, run at nice 19 (the
load generator in a session whose autogroup is at 19 too). The probes, which
are light (a fixed 50 requests/s a route), run at nice 0 in a session of their
own (``--probe-nice``): a user on another machine does not wait for this one's
CPU, and at nice 19 a probe queued behind the other stand-ins and measured its
own wake-ups (home's p99 at 100 tok/s read 1,449 ms at nice 19 and 63 ms at
nice 0 in back-to-back runs). Each probe connection makes one untimed request
before the clock starts, so a slice's TCP and TLS handshakes are not its p99. Prints a table; writes .bench/bench-storm.json and .bench/bench-storm.png
(latency over time, phases marked; git-ignored).

A quick run while developing: ``make bench-storm ARGS="--seconds 10 --streams 50"``.

``--target containers`` measures the same phases against the production
topology instead (``make containers-up``: the Compose file's CPU shares and
limits in force, TLS Caddy, ``--coach-replicas`` coaches); CPU is then per
container, from its cgroup, and the stack is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pacer_devstack import postgres, probe, sse_load
from pacer_devstack.bench import athlete_token, stop_on_sigterm
from pacer_devstack.bench_reply_log import (
    cut_llm_calls,
    sim_rate,
    wait_streams_closed,
    write_tokens,
)
from pacer_devstack.bench_worker import jobs_running, register_athletes, trigger_refreshes
from pacer_devstack.containers import stack as local
from pacer_devstack.containers.bench_target import ContainerStack, MemorySampler, start_containers
from pacer_devstack.harness import Stack, start_stack

# The dev stack (processes under supervisord) or the production containers.
Target = Stack | ContainerStack

OUT_DIR = Path(".bench")
MAX_STREAMS_PER_USER = 1000
# The probes' CPU priority (module docstring: why not the stand-ins' 19).
PROBE_NICENESS = 0  # the coach's settings bound
ROUTES = ("/v1/home", "/health")
# Each process of the stack, by a piece of its command line.
ROLES = {
    "coach": "pacer_coach",
    "caddy": "caddy",
    "core-api": "pacer_core_api",
    "worker": "pacer_briefing_worker",
    "postgres": "postgres",
    "redis": "valkey",
    "llm-sim": "pacer_llm_sim",
}
# The published port's userland relay on the host (containers only): the bench's
# clients reach Caddy through it from loopback; production's, from outside, through
# the kernel's NAT.
DOCKER_PROXY = "docker-proxy"
# Each container of the production stack, by its Compose service.
CONTAINER_ROLES = {
    "coach": "coach",
    "caddy": "caddy",
    "core-api": "core-api",
    "briefing-worker": "worker",
    "postgres": "postgres",
    "redis": "redis",
    "llm-sim": "llm-sim",
}
SETTLE_DEADLINE_S = 120.0
# The streams' ramp has stalled once the simulator's active calls stop growing this long
# (every chat left was shed: the coach's loop is late; see _ramp).
RAMP_STALL_S = 20.0
MAX_REPLY_TOKENS = 32_000  # the coach's settings bound


SIM_CALL_DEADLINE_S = 15.0


def _sim_call(
    stack: Target, method: str, path: str, body: dict[str, object] | None
) -> httpx.Response:
    """The simulator's control API, tried again for a while on a dropped connection: its
    container's published port can drop the first connections after a restart."""
    deadline = time.monotonic() + SIM_CALL_DEADLINE_S
    url = f"http://127.0.0.1:{stack.port('LLM_SIM_PORT')}{path}"
    while True:
        try:
            response = httpx.request(method, url, json=body)
            return response.raise_for_status()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _sim_stats(stack: Target) -> dict[str, Any]:
    stats: dict[str, Any] = _sim_call(stack, "GET", "/_sim/stats", None).json()
    return stats


def _sim(stack: Target, path: str, body: dict[str, object]) -> None:
    _sim_call(stack, "POST", path, body)


def _wait(what: str, check: Any, deadline_s: float = SETTLE_DEADLINE_S, fatal: bool = True) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > deadline:
            if fatal:
                raise RuntimeError(f"bench-storm: timed out waiting for {what}")
            print(f"  (gave up waiting for {what}; going on)", flush=True)
            return
        time.sleep(0.2)


def _role(command: str) -> str | None:
    for role, needle in ROLES.items():
        if needle in command:
            return role
    return None


def cpu_by_role(stack: Target) -> dict[int | str, tuple[str, float]]:
    """Every stack process's (or container's) role and CPU seconds so far."""
    found: dict[int | str, tuple[str, float]] = {}
    if isinstance(stack, ContainerStack):
        for container_id, (service, cpu) in stack.cpu_seconds().items():
            if service in CONTAINER_ROLES:
                found[container_id] = (CONTAINER_ROLES[service], cpu)
        for pid in _docker_proxies():
            with contextlib.suppress(OSError):  # gone meanwhile
                found[pid] = (DOCKER_PROXY, sse_load.cpu_seconds(pid))
        return found
    for pid, command in stack.pids().items():
        role = _role(command)
        if role is None:
            continue
        try:
            found[pid] = (role, sse_load.cpu_seconds(pid))
        except OSError:
            continue  # gone meanwhile
    return found


def throttled_percent(
    before: dict[str, tuple[str, int, int]], after: dict[str, tuple[str, int, int]]
) -> dict[str, float]:
    """% of each container role's CFS periods over the window in which its quota ran out."""
    periods: dict[str, int] = {}
    throttled: dict[str, int] = {}
    for key, (service, total, hit) in after.items():
        role = CONTAINER_ROLES.get(service)
        if role is None:
            continue
        _, total_before, hit_before = before.get(key, (service, 0, 0))
        periods[role] = periods.get(role, 0) + total - total_before
        throttled[role] = throttled.get(role, 0) + hit - hit_before
    return {role: 100 * throttled[role] / n for role, n in periods.items() if n}


def _docker_proxies() -> list[int]:
    """The engine's userland relays of the published ports (host processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "docker-proxy":
                    found.append(int(entry.name))
    return found


def cpu_percent(
    before: dict[int | str, tuple[str, float]],
    after: dict[int | str, tuple[str, float]],
    seconds: float,
) -> dict[str, float]:
    """% of one core per role over the window (a process born inside it counts from 0)."""
    used = dict.fromkeys(ROLES, 0.0)
    for pid, (role, cpu) in after.items():
        used[role] = used.get(role, 0.0) + cpu - before.get(pid, (role, 0.0))[1]
    return {role: 100 * value / seconds for role, value in used.items()}


@dataclass
class Phase:
    name: str
    started_at: float = 0.0
    ended_at: float = 0.0
    slices: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    # Containers only: % of each one's CFS periods in which its quota ran out.
    throttled: dict[str, float] = field(default_factory=dict)
    delivered: dict[str, Any] = field(default_factory=dict)

    def figure(self, route: str, key: str) -> float:
        values = [s[key] for s in self.slices.get(route, []) if key in s and s[key] == s[key]]
        return statistics.median(values) if values else float("nan")

    def errors(self) -> int:
        return int(sum(s.get("errors", 0) for slices in self.slices.values() for s in slices))


def probe_phase(stack: Target, token: str, phase: Phase, args: argparse.Namespace) -> None:
    """Probe both routes at once, slice after slice, for ``--seconds``; CPU over the same window."""
    before = cpu_by_role(stack)
    quota_before = stack.throttling() if isinstance(stack, ContainerStack) else {}
    phase.started_at = time.time()
    deadline = time.monotonic() + args.seconds
    clients = max(1, args.clients // len(ROUTES))

    def route_loop(route: str) -> None:
        slices = phase.slices.setdefault(route, [])
        while time.monotonic() < deadline - args.slice / 2:
            started = time.time()
            process = probe.start_slice(
                stack.url,
                route,
                clients,
                args.slice,
                token if route == "/v1/home" else None,
                rate=args.probe_rate,
                niceness=args.probe_nice,
            )
            figures = probe.finish_slice(process, args.slice, rate=args.probe_rate)
            slices.append({"t": started, "seconds": time.time() - started, **figures})

    threads = [threading.Thread(target=route_loop, args=(route,)) for route in ROUTES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.ended_at = time.time()
    phase.cpu = cpu_percent(before, cpu_by_role(stack), phase.ended_at - phase.started_at)
    if isinstance(stack, ContainerStack):
        phase.throttled = throttled_percent(quota_before, stack.throttling())


def _delivered_in(samples: list[list[float]], start: float, end: float) -> tuple[float, float]:
    """Events and tokens the clients got between two wall-clock times (from 1 s samples)."""

    def at(moment: float) -> tuple[float, float]:
        # Linear between the samples either side: a window's edges fall between them.
        before = [s for s in samples if s[0] <= moment]
        after = [s for s in samples if s[0] > moment]
        if not before:
            return 0.0, 0.0
        low = before[-1]
        if not after:
            return low[1], low[2]
        high = after[0]
        share = (moment - low[0]) / (high[0] - low[0])
        return low[1] + share * (high[1] - low[1]), low[2] + share * (high[2] - low[2])

    start_events, start_tokens = at(start)
    end_events, end_tokens = at(end)
    return end_events - start_events, end_tokens - start_tokens


def _cut_llm_calls(stack: Target) -> None:
    if isinstance(stack, ContainerStack):
        stack.cut_llm_calls()
    else:
        cut_llm_calls(stack)


def _wait_streams_closed(stack: Target) -> None:
    if isinstance(stack, ContainerStack):
        stack.wait_streams_closed()
    else:
        wait_streams_closed(stack)


def _jobs_left(stack: Target) -> int:
    if isinstance(stack, ContainerStack):
        return stack.jobs_running()
    return asyncio.run(jobs_running(postgres.database_url(stack.port("POSTGRES_PORT"))))


def _sse_target(stack: Target) -> str:
    """sse_load's --target: HOST:PORT, or https://HOST:PORT through the containers' TLS."""
    return stack.url.removeprefix("http://")


def hung_phase(
    stack: Target, token: str, tokens_file: Path, job_tokens: list[str], args: argparse.Namespace
) -> Phase:
    phase = Phase("hung")
    _sim(stack, "/_sim/mode", {"mode": "hang"})
    asyncio.run(trigger_refreshes(stack.url, job_tokens))
    held = sse_load.spawn(
        _sse_target(stack),
        tokens_file,
        args.streams,
        seconds=args.seconds + SETTLE_DEADLINE_S,
        hold=True,
    )
    sse_load.wait_held(held)
    hanging = args.streams + args.jobs
    _wait(
        f"{hanging} calls hanging at the simulator", lambda: _sim_stats(stack)["active"] >= hanging
    )
    probe_phase(stack, token, phase, args)
    phase.delivered = {"hanging_llm_calls": _sim_stats(stack)["active"]}
    held.terminate()
    held.wait()
    _cut_llm_calls(stack)
    _wait_streams_closed(stack)
    # Their LLM calls were cut: they retry with backoff, so this may take a while.
    _wait("the refresh jobs to settle", lambda: _jobs_left(stack) == 0, fatal=False)
    return phase


def _ramp(stack: Target, load: Any, streams: int) -> int:
    """Until ``streams`` replies flow at the simulator, or their ramp stalls: how many flow.

    The load generator sends a chat the coach shed (503 while its loop is late, as
    at 100 tok/s on a busy machine) again after the Retry-After. Before, the bench
    waited for every stream and gave up on the whole phase when the coach kept
    shedding; now a phase whose ramp stalls is measured with the streams that got in,
    and says so (the share the coach holds is the figure, not a hang).
    """
    best, best_at = 0, time.monotonic()
    deadline = best_at + SETTLE_DEADLINE_S
    while True:
        active = int(_sim_stats(stack)["active"])
        if active >= streams:
            return active
        if load.poll() is not None:
            raise RuntimeError(f"the chat load generator exited early (exit {load.returncode})")
        now = time.monotonic()
        if active > best:
            best, best_at = active, now
        if now - best_at > RAMP_STALL_S or now > deadline:
            print(f"  only {active} of {streams} streams flowing (the rest shed); going on")
            return active
        time.sleep(0.5)


def _sim_mode_slow(stack: Target, rate: float, reply_tokens: int) -> None:
    if isinstance(stack, ContainerStack):
        _sim(
            stack,
            "/_sim/mode",
            {
                "mode": "slow",
                "first_token_ms": 0,
                "token_ms": round(1000 / rate),
                "tokens": reply_tokens,
            },
        )
    else:
        sim_rate(stack, rate, tokens=reply_tokens)


def active_phase(
    stack: Target,
    token: str,
    tokens_file: Path,
    rate: float,
    args: argparse.Namespace,
    streams: int | None = None,
) -> Phase:
    streams = streams or args.streams
    phase = Phase(f"{streams} @ {rate:g}" if args.sweep else f"{rate:g} tok/s")
    # Long enough replies that every stream flows through the ramp and the whole probe
    # window; no longer (the simulator holds each answer pre-encoded, ~230 bytes a token).
    reply_tokens = min(int(rate * (args.seconds + 60)), MAX_REPLY_TOKENS)
    _sim_mode_slow(stack, rate, reply_tokens)
    load = sse_load.spawn(_sse_target(stack), tokens_file, streams, retry_shed=True)
    flowing = _ramp(stack, load, streams)
    time.sleep(2 * sse_load.SAMPLE_EVERY_S)  # past the first tokens' burst
    coach_before = {pid: cpu for pid, (role, cpu) in cpu_by_role(stack).items() if role == "coach"}
    load_before = sse_load.cpu_seconds(load.pid)
    sim_before = _sim_stats(stack)
    probe_phase(stack, token, phase, args)
    sim_after = _sim_stats(stack)
    load_cpu = sse_load.cpu_seconds(load.pid) - load_before
    coach_cpu = sum(
        cpu - coach_before.get(pid, 0.0)
        for pid, (role, cpu) in cpu_by_role(stack).items()
        if role == "coach"
    )
    _cut_llm_calls(stack)  # ends every reply: the clients get `done`
    answer = sse_load.result(load, timeout_s=SETTLE_DEADLINE_S)
    window = phase.ended_at - phase.started_at
    events, tokens = _delivered_in(answer["samples"], phase.started_at, phase.ended_at)
    expected = streams * rate * window
    sim_tokens = sim_after["stream_tokens"] - sim_before["stream_tokens"]
    phase.delivered = {
        "streams": streams,
        "flowing_streams": flowing,
        "rate_tokens_per_s": rate,
        "events_per_s": events / window,
        "tokens_per_s": tokens / window,
        "share_of_sim_rate": tokens / expected if expected else None,
        # What the simulator did send meanwhile (fewer when the coach reads slower).
        "sim_tokens_per_s": sim_tokens / window,
        "share_of_sim_tokens": tokens / sim_tokens if sim_tokens else None,
        "coach_us_per_token": coach_cpu / tokens * 1e6 if tokens else None,
        "load_generator_cpu_percent": 100 * load_cpu / window,
        "sim_cpu_percent": 100
        * (sim_after["process_cpu_s"] - sim_before["process_cpu_s"])
        / window,
        "statuses": answer["statuses"],
    }
    _wait_streams_closed(stack)
    return phase


def print_table(phases: list[Phase]) -> None:
    idle = phases[0]
    print(
        f"\n  {'phase':<12}{'home p50':>9}{'p99':>8}{'/idle':>7}{'health p50':>11}{'p99':>8}"
        f"{'/idle':>7}{'err':>5}{'flow':>6}{'events/s':>10}{'tok/s':>8}{'% sim':>7}{'µs/tok':>8}"
    )
    for phase in phases:
        cells = f"  {phase.name:<12}"
        for route in ROUTES:
            p99 = phase.figure(route, "p99")
            ratio = p99 / idle.figure(route, "p99")
            cells += f"{phase.figure(route, 'p50'):>{9 if route == '/v1/home' else 11}.2f}{p99:>8.2f}{ratio:>7.2f}"
        delivered = phase.delivered
        share = delivered.get("share_of_sim_rate")
        per_token = delivered.get("coach_us_per_token")
        cells += f"{phase.errors():>5}"
        cells += f"{delivered.get('flowing_streams', '-'):>6}"
        cells += (
            f"{delivered.get('events_per_s', 0):>10.0f}{delivered.get('tokens_per_s', 0):>8.0f}"
        )
        cells += f"{(f'{100 * share:.0f}' if share else '-'):>7}"
        cells += f"{(f'{per_token:.0f}' if per_token else '-'):>8}"
        print(cells)
    print(
        f"\n  CPU, % of one core: {'phase':<12}"
        + "".join(f"{role:>10}" for role in ROLES)
        + f"{'chat load':>11}{'sim (own)':>11}"
    )
    for phase in phases:
        load = phase.delivered.get("load_generator_cpu_percent")
        print(
            f"  {'':<20}{phase.name:<12}"
            + "".join(f"{phase.cpu[r]:>10.1f}" for r in ROLES)
            + (f"{load:>11.1f}" if load is not None else f"{'-':>11}")
            + (f"{sim:>11.1f}" if (sim := phase.delivered.get("sim_cpu_percent")) else f"{'-':>11}")
        )
    if any(DOCKER_PROXY in phase.cpu for phase in phases):
        print(
            f"  {DOCKER_PROXY} (host, the published port's relay): "
            + ", ".join(f"{phase.name} {phase.cpu.get(DOCKER_PROXY, 0.0):.1f}" for phase in phases)
        )
    if any(phase.throttled for phase in phases):
        print(f"\n  CFS periods throttled, %: {'phase':<12}" + "".join(f"{r:>10}" for r in ROLES))
        for phase in phases:
            print(
                f"  {'':<26}{phase.name:<12}"
                + "".join(f"{phase.throttled.get(r, 0.0):>10.1f}" for r in ROLES)
            )
    print(
        "  (/idle: p99 over the idle phase's; flow: streams flowing at the simulator (the "
        "coach sheds the rest while its loop is late); % sim: tokens delivered over streams x "
        "the simulator's nominal rate; µs/tok: coach CPU over tokens delivered; sim (own): "
        "the simulator's CPU from its /_sim/stats)"
    )


def draw(phases: list[Phase], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origin = phases[0].started_at
    figure, axes = plt.subplots(figsize=(10, 4.5))
    for route, colour in zip(ROUTES, ("tab:blue", "tab:orange"), strict=True):
        # One line per phase: nothing is drawn across the gaps between them.
        for index, phase in enumerate(phases):
            points = sorted(
                (s["t"] - origin + s.get("seconds", 0) / 2, s["p50"], s["p99"])
                for s in phase.slices.get(route, [])
                if "p99" in s
            )
            times = [p[0] for p in points]
            first = index == 0
            axes.plot(
                times,
                [p[2] for p in points],
                color=colour,
                marker=".",
                label=f"{route} p99" if first else None,
            )
            axes.plot(
                times,
                [p[1] for p in points],
                color=colour,
                linestyle=":",
                label=f"{route} p50" if first else None,
            )
    for index, phase in enumerate(phases):
        axes.axvspan(
            phase.started_at - origin,
            phase.ended_at - origin,
            color="grey",
            alpha=0.08 if index % 2 else 0.18,
        )
        axes.text(phase.started_at - origin, 1.01, phase.name, transform=axes.get_xaxis_transform())
    axes.set_xlabel("seconds since the idle phase began (gaps: phases changing)")
    axes.set_ylabel("latency through Caddy (ms)")
    axes.set_ylim(bottom=0)
    axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# Within this of the idle phase's home p99, with this share of the simulator's tokens
# delivered and every stream flowing, a sweep's step holds (issue 24's goal).
HOLD_P99_RATIO = 1.5
HOLD_DELIVERED = 0.95
SWEEP_IDLE_S = 30.0
# The 1-vCPU droplet on this 2-core machine: every container of the stack on CPU 0,
# the simulator (another machine) and the probes and load generator on CPU 1.
SMALL_DROPLET_SERVICES = ("caddy", "core-api", "coach", "briefing-worker", "postgres", "redis")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="probe time per phase")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=50, help="hung briefing refreshes")
    parser.add_argument("--rates", default="20,100", help="tokens/s per stream, comma-separated")
    parser.add_argument("--clients", type=int, default=8, help="probe connections, all routes")
    parser.add_argument("--slice", type=float, default=2.0, help="seconds per probe slice")
    parser.add_argument(
        "--probe-rate",
        type=float,
        default=50.0,
        help="requests/s per route at a fixed rate (what one more user sees); "
        "0: closed loop (wrk when present), which measures throughput and loads the stack itself",
    )
    parser.add_argument(
        "--probe-nice",
        type=int,
        default=PROBE_NICENESS,
        help="the probes' nice (and their own session's autogroup's); 19 puts them behind "
        "the other stand-ins, measuring their own wake-ups",
    )
    parser.add_argument(
        "--target",
        choices=("dev", "containers"),
        default="dev",
        help="dev: make run's processes on free ports; containers: the production Compose "
        "stack on this machine's Docker engine (make containers-up), removed at the end",
    )
    parser.add_argument(
        "--coach-replicas", type=int, default=1, help="coach containers (--target containers)"
    )
    parser.add_argument(
        "--droplet",
        choices=("2vcpu-4gb", "1vcpu-2gb"),
        default="2vcpu-4gb",
        help="--target containers: 1vcpu-2gb adds docker-compose.small.yml and pins every "
        "container of the stack to CPU 0, the simulator, probes and load generator to CPU 1",
    )
    parser.add_argument(
        "--sweep",
        default="",
        help="capacity: instead of the hung and flowing phases, for each --rates, these "
        "stream counts (comma-separated, ascending) until one fails home p99 <= "
        f"{HOLD_P99_RATIO:g}x idle, >= {HOLD_DELIVERED * 100:.0f} %% delivered, every stream flowing",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--no-png", action="store_true")
    return parser


def _stack_env(args: argparse.Namespace, streams: int) -> dict[str, str]:
    long_s = "600"
    return {
        # 200 streams of one athlete: the caps raised for the bench.
        "SSE_MAX_CONNECTIONS": str(streams + 100),
        "SSE_WARN_CONNECTIONS": str(streams + 50),
        "SSE_MAX_STREAMS_PER_USER": str(min(streams + 100, MAX_STREAMS_PER_USER)),
        "RATE_LIMIT_FREE": "1000000",
        "LLM_FIRST_TOKEN_TIMEOUT_SECONDS": long_s,
        "LLM_IDLE_TIMEOUT_SECONDS": long_s,
        "LLM_SDK_TIMEOUT_SECONDS": long_s,
        "COACH_STREAM_TIMEOUT_SECONDS": long_s,
        # Replies long enough to flow through a whole phase (800 by default: 8 s at 100 tok/s).
        "COACH_MAX_REPLY_TOKENS": str(MAX_REPLY_TOKENS),
        # Every refresh hangs at the simulator at once, none times out meanwhile.
        "WORKER_MAX_JOBS": str(max(1, min(args.jobs, 100))),
        "JOB_TIMEOUT_SECONDS": long_s,
        "BRIEFING_DEBOUNCE_SECONDS": "0.2",
    }


def _pinning(folder: Path, droplet: str) -> None:
    """The droplet's Compose files and CPU pinning, for start_containers.

    2 vCPU: the production file pins the coach and the worker to CPU 1; the
    simulator (the providers' stand-in) keeps to that CPU too, off the latency
    path's, as the dev stack's LLM side does. 1 vCPU: see SMALL_DROPLET_SERVICES."""
    pinning = folder / "docker-compose.pinned.yml"
    lines = ["services:"]
    files = [pinning]
    if droplet == "1vcpu-2gb":
        for service in SMALL_DROPLET_SERVICES:
            lines += [f"  {service}:", '    cpuset: "0"']
        files.insert(0, local.DEPLOY / "docker-compose.small.yml")
        os.environ[probe.OUTSIDE_CPUS_ENV] = "1"
    lines += ["  llm-sim:", '    cpuset: "1"']
    pinning.write_text("\n".join(lines) + "\n")
    os.environ[local.EXTRA_FILES_ENV] = os.pathsep.join(str(path) for path in files)


def _relays(phase: Phase, streams: int) -> bool:
    """Every stream flowing and at least HOLD_DELIVERED of the tokens delivered."""
    share = phase.delivered.get("share_of_sim_rate") or 0.0
    return phase.delivered.get("flowing_streams", 0) >= streams and share >= HOLD_DELIVERED


def _holds(idle: Phase, phase: Phase, streams: int) -> bool:
    """... and home's p99 within HOLD_P99_RATIO of idle's."""
    ratio = phase.figure("/v1/home", "p99") / idle.figure("/v1/home", "p99")
    return ratio <= HOLD_P99_RATIO and _relays(phase, streams)


def sweep(
    stack: Target, token: str, tokens_file: Path, args: argparse.Namespace, phases: list[Phase]
) -> dict[str, dict[str, int]]:
    """For each rate, the most streams (of --sweep's counts) that hold home within the
    bound ("holds"), and the most the coach relays whatever home's latency ("relays"):
    a rate's steps go on until one is not relayed. A 10 s step's p99 varies by about
    0.3x of idle's from one step to the next, so one step over the bound is taken for
    noise and two in a row end "holds" (the figure is the last step that held before)."""
    counts = [int(n) for n in args.sweep.split(",")]
    found: dict[str, dict[str, int]] = {"holds": {}, "relays": {}}
    for rate in [float(rate) for rate in args.rates.split(",")]:
        key = f"{rate:g}"
        found["holds"][key] = found["relays"][key] = 0
        misses = 0  # steps over the latency bound in a row
        for streams in counts:
            phase = active_phase(stack, token, tokens_file, rate, args, streams)
            phases.append(phase)
            holds = _holds(phases[0], phase, streams)
            relays = _relays(phase, streams)
            print(f"  {streams} streams at {key} tok/s: holds {holds}, relayed {relays}")
            if misses < 2:
                misses = 0 if holds else misses + 1
                if holds:
                    found["holds"][key] = streams
            if not relays:
                break
            found["relays"][key] = streams
    return found


def _run(
    stack: Target, folder: Path, args: argparse.Namespace, phases: list[Phase]
) -> dict[str, dict[str, int]]:
    token = athlete_token(stack.url)
    tokens_file = write_tokens(folder, [token])
    job_tokens = register_athletes(stack, args.jobs) if args.jobs and not args.sweep else []
    phases.append(Phase("idle"))
    # A sweep's every step is judged against idle: a longer idle phase, a steadier p99.
    idle_s = max(args.seconds, SWEEP_IDLE_S) if args.sweep else args.seconds
    probe_phase(stack, token, phases[0], argparse.Namespace(**{**vars(args), "seconds": idle_s}))
    print("  idle done", flush=True)
    try:
        if args.sweep:
            return sweep(stack, token, tokens_file, args, phases)
        phases.append(hung_phase(stack, token, tokens_file, job_tokens, args))
        print("  hung done", flush=True)
        for rate in [float(rate) for rate in args.rates.split(",")]:
            phases.append(active_phase(stack, token, tokens_file, rate, args))
            print(f"  {rate:g} tok/s done", flush=True)
    except RuntimeError as error:
        # Report the phases that ran: a long run is not thrown away for the last one.
        print(f"  phase failed, reporting those before it: {error}", flush=True)
    return {}


def _memory_peaks(sampler: MemorySampler | None, services: dict[str, str]) -> dict[str, float]:
    """Each Compose service's peak MiB over the run (the largest of its replicas)."""
    if sampler is None:
        return {}
    peaks: dict[str, float] = {}
    for name, peak in sampler.peaks.items():
        service = services[name]
        peaks[service] = max(peaks.get(service, 0.0), peak / 2**20)
    return peaks


def main() -> None:
    parser = _parser()
    args = parser.parse_args()
    most = max([args.streams, *(int(n) for n in args.sweep.split(",") if n)])
    if most > MAX_STREAMS_PER_USER:
        parser.error(f"--streams: at most {MAX_STREAMS_PER_USER} (one athlete holds them)")
    if args.droplet != "2vcpu-4gb" and args.target != "containers":
        parser.error("--droplet: with --target containers")
    stop_on_sigterm()
    print(
        f"bench-storm: {args.seconds:g} s a phase, {args.streams} streams, {args.jobs} hung jobs, "
        f"rates {args.rates} tokens/s; probes: {probe.tool(args.probe_rate)}, {args.clients} connections, "
        f"{args.slice:g} s slices, at nice {args.probe_nice}; the chat load generator and the "
        "simulator at nice 19 (they stand in for other machines)",
        flush=True,
    )
    phases: list[Phase] = []
    sampler: MemorySampler | None = None
    services: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="pacer-bench-storm-") as folder:
        if args.target == "containers":
            _pinning(Path(folder), args.droplet)
        env = _stack_env(args, most)
        stack: Target = (
            start_containers(env, args.coach_replicas)
            if args.target == "containers"
            else start_stack(Path(folder) / "data", env)
        )
        try:
            if isinstance(stack, ContainerStack):
                found = stack.container_ids()
                services = {name: service for name, (_, service) in found.items()}
                sampler = MemorySampler({name: cid for name, (cid, _) in found.items()})
                sampler.start()
            held = _run(stack, Path(folder), args, phases)
        finally:
            if sampler is not None:
                sampler.stop.set()
            stack.stop()
    peaks = _memory_peaks(sampler, services)
    report(args, phases, held, peaks)


def report(
    args: argparse.Namespace,
    phases: list[Phase],
    held: dict[str, dict[str, int]],
    peaks: dict[str, float],
) -> None:
    print_table(phases)
    if held:
        print("\n  streams that hold (home p99 within 1.5x idle, >= 95 % delivered), by rate:")
        print("  " + ", ".join(f"{rate} tok/s: {n}" for rate, n in held["holds"].items()))
        print("  streams the coach relays (>= 95 % delivered, home aside), by rate:")
        print("  " + ", ".join(f"{rate} tok/s: {n}" for rate, n in held["relays"].items()))
    if peaks:
        print(
            "\n  peak memory, MiB: " + ", ".join(f"{s} {v:.0f}" for s, v in sorted(peaks.items()))
        )
    args.out.mkdir(parents=True, exist_ok=True)
    figures = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "probe": probe.tool(args.probe_rate),
        "target": args.target,
        "droplet": args.droplet,
        "holds": held.get("holds", {}),
        "relays": held.get("relays", {}),
        "memory_peak_mib": peaks,
        "phases": [
            {
                "name": phase.name,
                "seconds": phase.ended_at - phase.started_at,
                **{
                    f"{route} {key}": phase.figure(route, key)
                    for route in ROUTES
                    for key in ("p50", "p99", "rps")
                },
                "errors": phase.errors(),
                "cpu_percent": phase.cpu,
                "throttled_percent": phase.throttled,
                "delivered": phase.delivered,
                "slices": phase.slices,
            }
            for phase in phases
        ],
    }
    name = "bench-storm" if args.target == "dev" else "bench-storm-containers"
    if args.droplet != "2vcpu-4gb":
        name += f"-{args.droplet}"
    if args.sweep:
        name += "-sweep"
    (args.out / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    written = [str(args.out / f"{name}.json")]
    if not args.no_png and phases:
        draw(phases, args.out / f"{name}.png")
        written.append(str(args.out / f"{name}.png"))
    print(f"\nwritten: {', '.join(written)} (a shared machine: noisy figures)")


if __name__ == "__main__":
    main()
