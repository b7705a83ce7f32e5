"""Render the dev stack's supervisord config; the Caddy config is pacer_devstack.proxy's."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from pacer_devstack import postgres, valkey
from pacer_devstack.config import REPO_ROOT, StackConfig


@dataclass(frozen=True)
class Program:
    name: str
    command: str
    priority: int
    autorestart: str = "true"
    startsecs: int = 1
    stopsignal: str = "TERM"
    stopwaitsecs: int = 6
    user: str | None = None
    environment: str | None = None
    to_console: bool = False


def caddy_binary() -> Path:
    return Path(sys.executable).parent / "caddy"


def _jinja(loader: PackageLoader) -> Environment:
    return Environment(loader=loader, undefined=StrictUndefined, keep_trailing_newline=True)


def programs(config: StackConfig, caddyfile: Path) -> list[Program]:
    python = shlex.quote(sys.executable)
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
        ),
        Program(
            "valkey",
            shlex.join(valkey.server_command(config.redis_port, config.redis_dir)),
            priority=10,
        ),
        Program("llm-sim", f"{python} -m pacer_llm_sim", priority=20),
        Program("core-api", f"{python} -m pacer_core_api", priority=30, startsecs=2),
        # The coach drains its streams in COACH_DRAIN_SECONDS, then exits: well under 5 s.
        Program("coach", f"{python} -m pacer_coach", priority=30, startsecs=2),
        # Finishes or abandons its running jobs on SIGTERM; the reaper covers the rest.
        Program("briefing-worker", f"{python} -m pacer_briefing_worker", priority=35, startsecs=2),
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
    return template.render(
        run_dir=config.run_dir,
        log_dir=config.log_dir,
        repo_root=REPO_ROOT,
        programs=programs(config, caddyfile),
    )
