"""Read deploy/ as data: Compose files (merged as Compose merges them), Dockerfiles,
and the capacity tables of deploy/CAPACITY.md.

Nothing here needs Docker: the tests check what can be checked from the files.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
PROD_COMPOSE = DEPLOY / "docker-compose.prod.yml"
SMALL_COMPOSE = DEPLOY / "docker-compose.small.yml"
CAPACITY_MD = DEPLOY / "CAPACITY.md"

# The Pacer services: built here, one Dockerfile each, scaled with --scale.
PACER_SERVICES = ("core-api", "coach", "briefing-worker")
# The services that call an LLM; capped together (CAPACITY.md, "The rules").
LLM_SIDE = ("coach", "briefing-worker")

ComposeDoc = dict[str, Any]
Service = dict[str, Any]


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def merge(base: Any, override: Any) -> Any:
    """Compose's merge for what the override files use: mappings merge key by key,
    anything else (a scalar, a `command` list) is replaced. test_compose checks
    that overrides touch nothing whose merge rule differs (ports, volumes...)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return override


def load_compose(spec: str) -> ComposeDoc:
    """``spec`` as in CAPACITY.md: file names in deploy/, joined by '+'."""
    documents = [load_yaml(DEPLOY / name) for name in spec.split("+")]
    merged = documents[0]
    for document in documents[1:]:
        merged = merge(merged, document)
    assert isinstance(merged, dict)
    return merged


_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmg]?)(i?b)?$", re.IGNORECASE)
_MIB_PER_UNIT = {"": 1 / (1024 * 1024), "k": 1 / 1024, "m": 1.0, "g": 1024.0}


def memory_mib(value: str | int) -> float:
    """Compose's byte values ("320M", "1g", 268435456) in MiB; M means MiB to Docker."""
    match = _MEMORY.match(str(value).strip())
    if match is None:
        raise ValueError(f"not a Compose memory value: {value!r}")
    number, unit = float(match.group(1)), match.group(2).lower()
    return number * _MIB_PER_UNIT[unit]


def limits(service: Service) -> tuple[float, float]:
    """(memory MiB, cpus) of a service's deploy.resources.limits."""
    found = service.get("deploy", {}).get("resources", {}).get("limits", {})
    return memory_mib(found["memory"]), float(found["cpus"])


def replicas(service: Service) -> int:
    return int(service.get("deploy", {}).get("replicas", 1))


def environment(service: Service) -> dict[str, str]:
    env = service.get("environment", {})
    # Mapping form only: a list form would not merge key by key with an override.
    assert isinstance(env, dict), "environment must be a mapping"
    return {str(key): str(value) for key, value in env.items()}


# --- Dockerfiles --------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def dockerfile_path(service: str) -> Path:
    return DEPLOY / f"{service}.Dockerfile"


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions with their continuation lines joined; comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    assert not pending, f"{path.name} ends inside a continued line"
    return instructions


def stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    """The build stages, each starting with its FROM (global ARGs before the first are left out)."""
    found: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            found.append([])
        if not found and instruction.keyword == "ARG":
            continue
        assert found, "a Dockerfile starts with FROM (after its global ARGs)"
        found[-1].append(instruction)
    return found


def shell_words(arguments: str) -> list[str]:
    return shlex.split(arguments)


# --- CAPACITY.md ---------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One cell of RSS or headroom: measured, estimated, or not known yet."""

    value: float | None
    estimated: bool

    @classmethod
    def parse(cls, cell: str) -> Figure:
        text = cell.strip().replace(",", "")
        if text.upper() == "TBD":
            return cls(None, False)
        estimated = text.startswith("est.")
        number = text.removeprefix("est.").strip()
        if not re.fullmatch(r"\d+(\.\d+)?", number):
            raise ValueError(f"a figure is a number, 'est. N' or 'TBD', not {cell!r}")
        return cls(float(number), estimated)


@dataclass(frozen=True)
class CapacityRow:
    service: str
    replicas: int
    max_replicas: int
    workers: int | None
    memory_mib: float
    cpus: float
    rss_idle: Figure
    rss_load: Figure
    headroom: Figure


@dataclass(frozen=True)
class CapacityTable:
    droplet: str
    host_cpus: float
    host_memory_mib: float
    compose: str
    rows: dict[str, CapacityRow]
    host_reserve_mib: float


_MARKER = re.compile(r"<!--\s*capacity:(?P<attributes>[^>]*)-->")
_COLUMNS = [
    "service",
    "replicas",
    "max replicas",
    "workers",
    "memory limit MiB",
    "cpus",
    "RSS idle MiB",
    "RSS under load MiB",
    "headroom MiB",
    "load",
]
HOST_RESERVE = "host reserve"


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_capacity_tables(text: str) -> list[CapacityTable]:
    """Every table that follows a ``<!-- capacity: key=value ... -->`` marker."""
    lines = text.splitlines()
    tables: list[CapacityTable] = []
    for index, line in enumerate(lines):
        marker = _MARKER.search(line)
        if marker is None:
            continue
        attributes = dict(item.split("=", 1) for item in marker.group("attributes").split())
        header = _cells(lines[index + 1])
        if header != _COLUMNS:
            raise ValueError(f"capacity table {attributes['droplet']}: columns must be {_COLUMNS}")
        rows: dict[str, CapacityRow] = {}
        reserve: float | None = None
        for row_line in lines[index + 3 :]:
            if not row_line.startswith("|"):
                break
            cells = dict(zip(_COLUMNS, _cells(row_line), strict=True))
            if cells["service"] == HOST_RESERVE:
                reserve = float(cells["memory limit MiB"].replace(",", ""))
                continue
            workers = cells["workers"]
            rows[cells["service"]] = CapacityRow(
                service=cells["service"],
                replicas=int(cells["replicas"]),
                max_replicas=int(cells["max replicas"]),
                workers=int(workers) if workers.isdigit() else None,
                memory_mib=float(cells["memory limit MiB"].replace(",", "")),
                cpus=float(cells["cpus"]),
                rss_idle=Figure.parse(cells["RSS idle MiB"]),
                rss_load=Figure.parse(cells["RSS under load MiB"]),
                headroom=Figure.parse(cells["headroom MiB"]),
            )
        if reserve is None:
            raise ValueError(f"capacity table {attributes['droplet']} has no host reserve row")
        tables.append(
            CapacityTable(
                droplet=attributes["droplet"],
                host_cpus=float(attributes["host_cpus"]),
                host_memory_mib=float(attributes["host_memory_mib"]),
                compose=attributes["compose"],
                rows=rows,
                host_reserve_mib=reserve,
            )
        )
    return tables


def capacity_tables() -> list[CapacityTable]:
    return parse_capacity_tables(CAPACITY_MD.read_text(encoding="utf-8"))


_STREAMING = re.compile(r"<!--\s*streaming:(?P<attributes>[^>]*)-->")


def streaming_capacity() -> dict[str, dict[float, int]]:
    """CAPACITY.md's streaming table (after ``<!-- streaming: -->``): for each droplet, the
    replies streaming at once it holds at each rate (tokens/s) with home within 1.5x idle."""
    lines = CAPACITY_MD.read_text(encoding="utf-8").splitlines()
    (index,) = [i for i, line in enumerate(lines) if _STREAMING.search(line)]
    header = _cells(lines[index + 1])
    rates = [float(cell.removesuffix(" tok/s")) for cell in header[1:]]
    table: dict[str, dict[float, int]] = {}
    for row_line in lines[index + 3 :]:
        if not row_line.startswith("|"):
            break
        droplet, *counts = _cells(row_line)
        # "120 (at 0.5 cpus)": the figure is the leading number.
        table[droplet] = {
            rate: int(count.split()[0].replace(",", ""))
            for rate, count in zip(rates, counts, strict=True)
        }
    return table


# --- Docker Compose, when this machine has it ---------------------------------------


def docker_compose_command() -> list[str] | None:
    """`docker compose` (the v2 plugin) or a standalone v2 `docker-compose`."""
    # make containers-up's own Compose v2 (tools/containers/ensure-engine.sh) counts too.
    local = REPO_ROOT / ".tools" / "bin" / "docker-compose"
    for command in (["docker", "compose"], ["docker-compose"], [str(local)]):
        try:
            result = subprocess.run(
                [*command, "version", "--short"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (FileNotFoundError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0 and result.stdout.strip().lstrip("v").startswith("2"):
            return command
    return None


def compose_or_skip(what: str) -> list[str]:
    """`docker compose`, or skip the calling test saying what was not run (CI has no Compose v2)."""
    compose = docker_compose_command()
    if compose is None:
        reason = f"no Docker Compose v2 here (`docker compose version` failed): {what} not run"
        print(reason)
        pytest.skip(reason)
    return compose


def stand_in_deploy(folder: Path) -> Path:
    """A copy of deploy/ at ``folder`` with stand-ins for the git-ignored files Compose reads."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(DEPLOY, folder)
    (folder / ".env.prod").write_text((DEPLOY / ".env.prod.example").read_text())
    (folder / ".env").write_text("PACER_TAG=test\n")
    (folder / "Caddyfile").write_text(":80\n")
    (folder / "secrets").mkdir(exist_ok=True)
    for secret in load_yaml(PROD_COMPOSE)["secrets"].values():
        (folder / secret["file"]).write_text("stand-in\n")
    return folder
