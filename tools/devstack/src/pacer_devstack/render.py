"""Render the dev stack's supervisord config; the Caddy config is pacer_devstack.proxy's."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from pacer_devstack import postgres, valkey
from pacer_devstack.config import REPO_ROOT, StackConfig

# supervisord stops one group at a time, the highest priority first, and waits
# until every process of it has exited before it signals the next. The services
# and the proxy go first, together (each has its own drain: the coach ends its
# streams and stores them, the worker finishes or abandons its jobs, Caddy lets
# open responses finish); what they store into goes last. Stopping everything
# at once let Postgres shut down 64 ms after the SIGTERM, under the coach's feet.
APPS_GROUP = "pacer"
BASE_GROUP = "pacer-base"
GROUP_PRIORITIES = {BASE_GROUP: 10, APPS_GROUP: 100}

# CPU priority when the 2 cores are busy (issue 14): core-api and Caddy (which
# carries home) ahead of the LLM side. The kernel weighs nice 3 at 526 and nice 6
# at 272 against nice 0's 1024 (sched_prio_to_weight), the same ratios as the
# Compose file's cpu_shares (coach 512, worker 256, the rest 1024): the dev stack
# ranks its processes as production does. The simulator stands in for providers
# on other machines: the lowest. All of them share make run's session, so one
# autogroup, where nice values rank them against each other (deploy/CAPACITY.md).
NICENESS = {"coach": 3, "briefing-worker": 6, "llm-sim": 19}

# ... and on two CPUs or more, the LLM side (the coach, the worker and the simulator
# standing in for the providers) runs on the last one only, as Compose pins the coach
# and the worker (`cpuset`, deploy/CAPACITY.md): then Caddy, core-api, Postgres and
# Valkey always find a CPU no relay is busy on when home's request wakes them. Nice
# alone ranks who runs, not where: home's p99 with 200 replies at 100 tok/s was
# 57.6 ms unpinned and 20.1 ms pinned, toggled every 4 s in one run (issue 24).


def llm_side_cpus(available: set[int] | None = None) -> str | None:
    """The CPU the LLM side is pinned to (taskset's list), or None on a single CPU."""
    cpus = sorted(os.sched_getaffinity(0) if available is None else available)
    return str(cpus[-1]) if len(cpus) >= 2 else None


@dataclass(frozen=True)
class Program:
    name: str
    command: str
    priority: int
    group: str = APPS_GROUP
    autorestart: str = "true"
    startsecs: int = 1
    stopsignal: str = "TERM"
    stopwaitsecs: int = 6
    user: str | None = None
    environment: str | None = None
    to_console: bool = False
    nice: int = 0
    # The CPUs it may run on (taskset's list); None: any.
    cpus: str | None = None

    @property
    def command_line(self) -> str:
        """The command, started at its CPU priority and on its CPUs (taskset and nice
        exec it: the pid is the same)."""
        command = self.command
        if self.nice:
            command = f"nice -n {self.nice} {command}"
        if self.cpus is not None:
            command = f"taskset -c {self.cpus} {command}"
        return command


def caddy_binary() -> Path:
    return Path(sys.executable).parent / "caddy"


def _jinja(loader: PackageLoader) -> Environment:
    return Environment(loader=loader, undefined=StrictUndefined, keep_trailing_newline=True)


def programs(config: StackConfig, caddyfile: Path) -> list[Program]:
    python = shlex.quote(sys.executable)
    llm_side = llm_side_cpus()
    caddy_env = f'XDG_DATA_HOME="{config.run_dir}/caddy-data",XDG_CONFIG_HOME="{config.run_dir}/caddy-config"'
    return [
        Program(
            "postgres",
            shlex.join(postgres.server_command(config.postgres_dir, config.postgres_port)),
            priority=10,
            startsecs=2,
            # SIGINT is Postgres's "fast" shutdown: roll back, checkpoint, exit.
            stopsignal="INT",
            user=postgres.os_user(),
            group=BASE_GROUP,
        ),
        Program(
            "valkey",
            shlex.join(valkey.server_command(config.redis_port, config.redis_dir)),
            priority=10,
            group=BASE_GROUP,
        ),
        # Stands in for the LLM providers, which do not stop when we do: it stays
        # up until the coach has ended its streams.
        Program(
            "llm-sim",
            f"{python} -m pacer_llm_sim",
            priority=20,
            group=BASE_GROUP,
            nice=NICENESS["llm-sim"],
            cpus=llm_side,
        ),
        Program("core-api", f"{python} -m pacer_core_api", priority=30, startsecs=2),
        # The coach drains its streams in COACH_DRAIN_SECONDS, then exits: well under 5 s.
        Program(
            "coach",
            f"{python} -m pacer_coach",
            priority=30,
            startsecs=2,
            nice=NICENESS["coach"],
            cpus=llm_side,
        ),
        # Finishes or abandons its running jobs on SIGTERM; the reaper covers the rest.
        Program(
            "briefing-worker",
            f"{python} -m pacer_briefing_worker",
            priority=35,
            startsecs=2,
            nice=NICENESS["briefing-worker"],
            cpus=llm_side,
        ),
        Program(
            "caddy",
            f"{shlex.quote(str(caddy_binary()))} run --config {shlex.quote(str(caddyfile))} --adapter caddyfile",
            priority=40,
            environment=caddy_env,
        ),
        # Polls every health check, prints the "ready" line, then exits.
        Program(
            "healthcheck",
            f"{python} -m pacer_devstack wait-ready",
            priority=90,
            autorestart="false",
            startsecs=0,
            to_console=True,
        ),
    ]


def render_supervisord_conf(config: StackConfig, caddyfile: Path) -> str:
    template = _jinja(PackageLoader("pacer_devstack", "templates")).get_template(
        "supervisord.conf.j2"
    )
    listed = programs(config, caddyfile)
    groups = {
        name: [program.name for program in listed if program.group == name]
        for name in GROUP_PRIORITIES
    }
    return template.render(
        run_dir=config.run_dir,
        log_dir=config.log_dir,
        repo_root=REPO_ROOT,
        programs=listed,
        groups=groups,
        group_priorities=GROUP_PRIORITIES,
    )
