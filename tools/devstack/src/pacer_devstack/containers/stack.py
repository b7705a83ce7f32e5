"""The production Compose stack on this machine: its files, `up` until healthy, and `down`.

Production's files (deploy/docker-compose.prod.yml, the Dockerfiles, the Caddy
template) are used as they are; deploy/docker-compose.local.yml is the one
local difference, and everything it needs (a Caddyfile for the site
`localhost`, the settings file, the secrets) is written to STATE_DIR.

States of the stack, as `make containers-up` sees them:

| state    | what is true                                    | next                         |
|----------|-------------------------------------------------|------------------------------|
| absent   | no container of the project exists              | up: build, start, wait       |
| starting | containers exist, a health check not passed yet | wait until healthy or failed |
| ready    | every container running and healthy             | (prints the ready line)      |
| failed   | a container exited, or not healthy in time      | exit 1, the logs' tail shown |
"""

from __future__ import annotations

import json
import os
import re
import secrets
import ssl
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pacer_devstack.config import REPO_ROOT
from pacer_devstack.containers.engine import COMPOSE, docker
from pacer_devstack.containers.images import Images
from pacer_devstack.keys import ensure_jwt_keys
from pacer_devstack.proxy import prod_values, render_caddyfile

STATE_DIR = Path(os.environ.get("PACER_CONTAINERS_STATE", REPO_ROOT / ".pacer" / "containers"))
DEPLOY = REPO_ROOT / "deploy"
COMPOSE_FILES = (DEPLOY / "docker-compose.prod.yml", DEPLOY / "docker-compose.local.yml")
# docker-compose.prod.yml's `name:`; container names are <project>-<service>-<n>.
PROJECT = "pacer"
DEFAULT_PORT = 8443
DEFAULT_LLM_SIM_PORT = 8090
READY_TIMEOUT_S = float(os.environ.get("PACER_READY_TIMEOUT_SECONDS", "180"))
# Names the compose file or the override set per service: the environment never
# replaces them (a host's DATABASE_URL or *_PORT means its dev stack, not these).
OWN_SETTINGS = re.compile(
    r"^(DATABASE_URL|REDIS_URL|JWT_(PRIVATE|PUBLIC)_KEY_FILE|ENVIRONMENT|TRUSTED_PROXIES"
    r"|[A-Z_]+_(HOST|PORT)|CORE_API_WORKERS|PACER_.*|POSTGRES_.*)$"
)
ENV_EXAMPLE = REPO_ROOT / ".env.example"


@dataclass(frozen=True)
class LocalStack:
    """Where the running stack answers."""

    port: int
    llm_sim_port: int
    coach_replicas: int

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def llm_sim_url(self) -> str:
        return f"http://127.0.0.1:{self.llm_sim_port}"

    @property
    def ca_file(self) -> Path:
        """Caddy's internal root certificate, copied out once the stack is ready."""
        return STATE_DIR / "caddy-root.crt"

    def tls(self) -> ssl.SSLContext:
        """A client context that trusts Caddy's internal root, and nothing else."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def local_stack_from_env() -> LocalStack:
    return LocalStack(
        port=_int_env("PACER_CONTAINERS_PORT", DEFAULT_PORT),
        llm_sim_port=_int_env("LLM_SIM_PORT", DEFAULT_LLM_SIM_PORT),
        coach_replicas=_int_env("COACH_REPLICAS", 1),
    )


def _write_private(path: Path, text: str) -> None:
    path.write_text(text)
    # Read by the containers' own users through a bind mount; the folder above
    # (0700) keeps everyone else on the host out.
    path.chmod(0o644)


def _secrets() -> str:
    """The secrets the Compose file mounts (made once); returns the Postgres password."""
    folder = STATE_DIR / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    private, public = ensure_jwt_keys(folder / "keys")
    for source, name in ((private, "jwt_private_key.pem"), (public, "jwt_public_key.pem")):
        _write_private(folder / name, source.read_text())
    password_file = folder / "postgres_password"
    if not password_file.exists():
        _write_private(password_file, secrets.token_hex(24))
    return password_file.read_text().strip()


def pacer_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The Pacer settings found in ``environ`` (the names .env.example lists), as `make run`
    passes them on, less those the Compose files set themselves."""
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE)
    return {
        name: environ[name] for name in names if name in environ and not OWN_SETTINGS.match(name)
    }


def _settings_file(password: str, environ: Mapping[str, str]) -> None:
    settings = {
        "ENVIRONMENT": "production",
        "DATABASE_URL": f"postgresql://pacer:{password}@postgres:5432/pacer",
        "REDIS_URL": "redis://redis:6379/0",
        # The simulator stands in for both providers (no API key here).
        "ANTHROPIC_BASE_URL": "http://llm-sim:8090",
        "OPENAI_BASE_URL": "http://llm-sim:8090/v1",
        "ANTHROPIC_API_KEY": "simulator",
        "OPENAI_API_KEY": "simulator",
        **pacer_settings(environ),
    }
    lines = [f"{name}={value}" for name, value in settings.items() if "\n" not in value]
    _write_private(STATE_DIR / "services.env", "\n".join(lines) + "\n")


def _caddyfile() -> None:
    # Production's own template and values; only the site differs: `localhost`
    # gets a certificate from Caddy's internal CA, never from an ACME server.
    values = prod_values(domain="localhost", acme_email="ops@localhost")
    (STATE_DIR / "Caddyfile").write_text(render_caddyfile(values))
    (STATE_DIR / "Caddyfile").chmod(0o644)


def compose_environment(stack: LocalStack, images: Images | None) -> dict[str, str]:
    """The variables the two Compose files read."""
    environment = {
        **os.environ,
        "PACER_CONTAINERS_STATE": str(STATE_DIR),
        "PACER_CONTAINERS_PORT": str(stack.port),
        "LLM_SIM_PORT": str(stack.llm_sim_port),
        "COACH_REPLICAS": str(stack.coach_replicas),
        # `down` needs the names interpolated, not the images.
        "PACER_TAG": "unused",
        "PACER_CADDY_IMAGE": "unused",
        "PACER_POSTGRES_IMAGE": "unused",
        "PACER_REDIS_IMAGE": "unused",
        "PACER_LLM_SIM_IMAGE": "unused",
    }
    if images is not None:
        environment |= {
            "PACER_TAG": images.pacer_tag,
            "PACER_CADDY_IMAGE": images.caddy,
            "PACER_POSTGRES_IMAGE": images.postgres,
            "PACER_REDIS_IMAGE": images.redis,
            "PACER_LLM_SIM_IMAGE": images.services["llm-sim"],
        }
    return environment


# More Compose files after the two, os.pathsep-separated: bench-storm's 1-vCPU
# droplet (docker-compose.small.yml and its CPU pinning); never set by make containers-up.
EXTRA_FILES_ENV = "PACER_COMPOSE_EXTRA"


def compose_command(*args: str) -> list[str]:
    extra = [Path(p) for p in os.environ.get(EXTRA_FILES_ENV, "").split(os.pathsep) if p]
    files = [word for path in (*COMPOSE_FILES, *extra) for word in ("-f", str(path))]
    return [str(COMPOSE), "--project-name", PROJECT, *files, *args]


def compose(
    stack: LocalStack, images: Images | None, *args: str, check: bool = True, timeout: float = 300
) -> str:
    result = subprocess.run(
        compose_command(*args),
        env=compose_environment(stack, images),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker compose {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def containers() -> list[dict[str, str]]:
    """Every container of the project, running or not: name, service, state, health."""
    out = docker(
        "ps",
        "--all",
        "--filter",
        f"label=com.docker.compose.project={PROJECT}",
        "--format",
        "{{json .}}",
    )
    found = []
    for line in out.splitlines():
        row = json.loads(line)
        labels = dict(
            part.split("=", 1) for part in row.get("Labels", "").split(",") if "=" in part
        )
        found.append(
            {
                "name": row["Names"],
                "id": row["ID"],
                "service": labels.get("com.docker.compose.service", ""),
                "status": row.get("Status", ""),
                "state": row.get("State", ""),
            }
        )
    return found


def _health(container_id: str) -> tuple[str, str]:
    """(state, health) of one container; health is "" when it has no health check."""
    out = docker(
        "inspect",
        "--format",
        "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
        container_id,
    )
    state, _, health = out.strip().partition(" ")
    return state, health


def wait_healthy(deadline_s: float = READY_TIMEOUT_S) -> None:
    """Until every container of the project runs and passes its health check."""
    deadline = time.monotonic() + deadline_s
    waiting: list[str] = []
    while time.monotonic() < deadline:
        waiting = []
        for container in containers():
            state, health = _health(container["id"])
            if state in {"exited", "dead"}:
                logs = docker("logs", "--tail", "30", container["id"], check=False)
                raise RuntimeError(f"{container['name']} {state}:\n{logs}")
            if state != "running" or health not in {"", "healthy"}:
                waiting.append(f"{container['name']} ({state} {health})".strip())
        if not waiting:
            return
        time.sleep(0.5)
    raise RuntimeError(f"not healthy within {deadline_s:.0f} s: {', '.join(waiting)}")


def _copy_caddy_root(stack: LocalStack) -> None:
    """Caddy's internal CA root, for clients on this machine (it is made on first start)."""
    source = "/data/caddy/pki/authorities/local/root.crt"
    deadline = time.monotonic() + 30
    while True:
        result = subprocess.run(
            compose_command("exec", "-T", "caddy", "cat", source),
            env=compose_environment(stack, None),
            capture_output=True,
            text=True,
        )
        if result.returncode == 0 and "BEGIN CERTIFICATE" in result.stdout:
            stack.ca_file.write_text(result.stdout)
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"Caddy's internal CA root never appeared: {result.stderr}")
        time.sleep(0.5)


def up(stack: LocalStack, images: Images, environ: Mapping[str, str]) -> None:
    """Write the local files, start (or reconcile) the stack and wait until it is healthy."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    password = _secrets()
    _settings_file(password, environ)
    _caddyfile()
    compose(
        stack,
        images,
        "up",
        "--detach",
        "--no-build",
        "--pull",
        "never",
        "--remove-orphans",
        "--scale",
        f"coach={stack.coach_replicas}",
    )
    wait_healthy()
    _copy_caddy_root(stack)


def down(stack: LocalStack) -> None:
    """Every container, network and volume the project made, gone. The images stay (cache)."""
    compose(stack, None, "down", "--volumes", "--remove-orphans", "--timeout", "30")
