"""The production Compose file, checked without a Docker engine (none runs here).

What a running engine would show first, these check from the files: the file
follows the Compose specification, every limit fits the droplet as
deploy/CAPACITY.md budgets it, every service has a health check and a restart
policy, images are pinned, nothing stops `--scale`, secrets stay out of git.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from deploy.model import (
    DEPLOY,
    LLM_SIDE,
    PACER_SERVICES,
    PROD_COMPOSE,
    REPO_ROOT,
    SMALL_COMPOSE,
    CapacityTable,
    capacity_tables,
    compose_or_skip,
    environment,
    limits,
    load_compose,
    load_yaml,
    memory_mib,
    parse_capacity_tables,
    replicas,
    stand_in_deploy,
)

SCHEMA = Path(__file__).with_name("compose-spec.json")
TABLES = capacity_tables()
TABLE_IDS = [table.droplet for table in TABLES]
# Each droplet's merged Compose configuration, once.
CONFIGS = {table.droplet: load_compose(table.compose) for table in TABLES}
PROD: dict[str, Any] = load_yaml(PROD_COMPOSE)


def _services(droplet: str) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = CONFIGS[droplet]["services"]
    return services


def test_both_droplets_have_a_capacity_table() -> None:
    assert sorted(TABLE_IDS) == ["1vcpu-2gb", "2vcpu-4gb"]


@pytest.mark.parametrize("path", [PROD_COMPOSE, SMALL_COMPOSE], ids=lambda p: p.name)
def test_compose_file_follows_the_compose_specification(path: Path) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(load_yaml(path)), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_small_override_only_changes_what_merges_key_by_key() -> None:
    # model.merge mirrors Compose only for mappings and replaced scalars/commands;
    # ports, volumes and the like follow other rules, so the override keeps off them.
    # cpuset (issue 24) is a scalar Compose replaces, as model.merge does.
    allowed = {"environment", "deploy", "command", "cpuset"}
    override = load_yaml(SMALL_COMPOSE)
    assert set(override) == {"services"}
    for name, service in override["services"].items():
        assert name in PROD["services"], f"override names an unknown service {name}"
        assert set(service) <= allowed, f"{name}: override may only set {sorted(allowed)}"


@pytest.mark.parametrize("droplet", TABLE_IDS)
def test_every_service_has_a_healthcheck_and_a_restart_policy(droplet: str) -> None:
    for name, service in _services(droplet).items():
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), f"{name}: no health check"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, f"{name}: health check form"
        restart = service.get("restart") or service.get("deploy", {}).get("restart_policy", {}).get(
            "condition"
        )
        assert restart in {"always", "unless-stopped", "on-failure", "any"}, f"{name}: {restart}"


def test_pacer_services_health_checks_hit_their_health_route() -> None:
    ports = {"core-api": 8001, "coach": 8002, "briefing-worker": 9103}
    for name, port in ports.items():
        command = " ".join(PROD["services"][name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/health'" in command, name


_PINNED_TAG = re.compile(r"^v?\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?$")


def test_pulled_images_are_pinned_to_a_version() -> None:
    for name, service in PROD["services"].items():
        image = service["image"]
        if "build" in service:
            # Built here and tagged with the release being deployed (RUNBOOK.md).
            assert image.startswith(f"pacer/{name}:${{PACER_TAG:?"), f"{name}: {image}"
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and _PINNED_TAG.match(tag), f"{name}: {image} is not pinned"


def test_scalable_services_have_no_fixed_name_or_host_port() -> None:
    for droplet in TABLE_IDS:
        for name, service in _services(droplet).items():
            assert "container_name" not in service, f"{name} has a container_name"
            if name in PACER_SERVICES:
                assert "ports" not in service, f"{name} publishes a host port"
            elif name != "caddy":
                # Anything else published stays on the host's loopback.
                for port in service.get("ports", []):
                    assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"
    assert {str(port) for port in PROD["services"]["caddy"]["ports"]} >= {"80:80", "443:443"}


def test_services_start_when_what_they_need_is_healthy() -> None:
    services = PROD["services"]
    for name in PACER_SERVICES:
        needs = services[name]["depends_on"]
        for dependency in ("postgres", "redis"):
            assert needs[dependency]["condition"] == "service_healthy", (name, dependency)
    for name in ("coach", "briefing-worker"):
        # core-api applies the migrations before it reports healthy.
        assert services[name]["depends_on"]["core-api"]["condition"] == "service_healthy"
    caddy = services["caddy"]["depends_on"]
    assert caddy["core-api"]["condition"] == "service_healthy"
    # The coach being down must not keep Caddy (and so core-api's routes) down.
    assert caddy["coach"]["condition"] != "service_healthy"


@pytest.mark.parametrize("droplet", TABLE_IDS)
def test_redis_cannot_evict_queued_jobs(droplet: str) -> None:
    redis = _services(droplet)["redis"]
    command = [str(word) for word in redis["command"]]
    options = dict(zip(command[1::2], command[2::2], strict=False))
    assert options["--maxmemory-policy"] == "noeviction"
    assert options["--appendonly"] == "yes"
    maxmemory = memory_mib(options["--maxmemory"].removesuffix("b"))
    memory_limit, _ = limits(redis)
    # An AOF rewrite forks: the limit must leave room above maxmemory.
    assert maxmemory * 1.5 <= memory_limit, (maxmemory, memory_limit)


def test_postgres_keeps_its_data_in_a_named_volume() -> None:
    postgres = PROD["services"]["postgres"]
    mounts = [str(volume).split(":") for volume in postgres["volumes"]]
    sources = {target: source for source, target, *_ in mounts}
    # Postgres 18's image keeps PGDATA under /var/lib/postgresql/<major>/.
    assert sources["/var/lib/postgresql"] in PROD["volumes"]
    assert postgres["image"].split(":")[1].startswith("18."), "the data folder layout is 18's"


def _git_ignored(path: Path) -> bool:
    result = subprocess.run(
        ["git", "check-ignore", "--quiet", "--no-index", str(path)],
        cwd=REPO_ROOT,
        check=False,
    )
    return result.returncode == 0


def test_secrets_come_from_files_git_ignores() -> None:
    for name in PACER_SERVICES:
        assert PROD["services"][name]["env_file"] == ".env.prod"
    secret_files = [DEPLOY / secret["file"] for secret in PROD["secrets"].values()]
    for path in [DEPLOY / ".env.prod", DEPLOY / ".env", DEPLOY / "Caddyfile", *secret_files]:
        assert _git_ignored(path), f"{path.relative_to(REPO_ROOT)} is not git-ignored"
    assert not _git_ignored(DEPLOY / ".env.prod.example")
    # No secret written into the Compose file itself: only paths to secret files.
    # (DATABASE_URL carries the database password.)
    secret_name = re.compile(r"(PASSWORD|SECRET|API_KEY|PRIVATE_KEY|TOKEN)$|^DATABASE_URL$")
    for droplet in TABLE_IDS:
        for name, service in _services(droplet).items():
            for key in environment(service):
                assert not secret_name.search(key), f"{name}: {key} belongs in .env.prod"


def test_env_example_lists_the_required_settings() -> None:
    example = (DEPLOY / ".env.prod.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert {"DATABASE_URL", "REDIS_URL", "ALLOWED_ORIGINS", "ANTHROPIC_API_KEY"} <= names


def test_core_api_trusts_only_caddys_fixed_address() -> None:
    # core-api believes X-Forwarded-For only from TRUSTED_PROXIES: without
    # Caddy's address there, every client would share one login throttle.
    caddy_address = PROD["services"]["caddy"]["networks"]["default"]["ipv4_address"]
    trusted = environment(PROD["services"]["core-api"])["TRUSTED_PROXIES"].split(",")
    assert trusted == [caddy_address]
    subnet = PROD["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert caddy_address.rsplit(".", 1)[0] == subnet.split("/")[0].rsplit(".", 1)[0]


# --- the capacity tables --------------------------------------------------------


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_compose_matches_the_capacity_table(table: CapacityTable) -> None:
    services = _services(table.droplet)
    optional = {name for name, service in services.items() if service.get("profiles")}
    listed = set(table.rows)
    assert listed <= set(services), f"table lists unknown services {listed - set(services)}"
    assert set(services) - optional <= listed, "every always-on service is in the table"
    for name, row in table.rows.items():
        memory, cpus = limits(services[name])
        assert (memory, cpus) == (row.memory_mib, row.cpus), f"{name}: Compose {memory}/{cpus}"
        assert replicas(services[name]) == row.replicas, f"{name}: replicas"
        assert row.max_replicas >= row.replicas, name


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_worker_counts_match_the_table(table: CapacityTable) -> None:
    services = _services(table.droplet)
    core_api = table.rows["core-api"]
    assert environment(services["core-api"])["CORE_API_WORKERS"] == str(core_api.workers)
    # Seed 000: more workers than cores OOM-killed the droplet and bought nothing.
    assert core_api.workers is not None and core_api.workers <= table.host_cpus
    # The coach and the worker run one process each by design; scale with replicas.
    for name in LLM_SIDE:
        assert table.rows[name].workers == 1, name


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_memory_limits_fit_the_droplet_with_the_host_reserve(table: CapacityTable) -> None:
    services = _services(table.droplet)
    total = sum(limits(services[name])[0] * row.max_replicas for name, row in table.rows.items())
    assert table.host_reserve_mib >= 512, "the host needs at least 512 MiB (CAPACITY.md)"
    assert total + table.host_reserve_mib <= table.host_memory_mib, (
        f"{total} MiB of limits + {table.host_reserve_mib} reserve > {table.host_memory_mib}"
    )
    # The reserve the table states is what is really left.
    assert table.host_reserve_mib == table.host_memory_mib - total


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_each_limit_covers_the_measured_load(table: CapacityTable) -> None:
    for name, row in table.rows.items():
        load = row.rss_load.value
        if load is None:
            continue
        assert row.memory_mib >= 1.2 * load, f"{name}: limit under 1.2x its RSS under load"
        assert row.headroom.value == row.memory_mib - load, f"{name}: headroom arithmetic"
        if row.rss_idle.value is not None:
            assert row.rss_idle.value <= load, f"{name}: idle above load"


@pytest.mark.parametrize("table", TABLES, ids=TABLE_IDS)
def test_cpu_limits_leave_core_api_its_share(table: CapacityTable) -> None:
    services = _services(table.droplet)
    for name, row in table.rows.items():
        assert row.cpus <= 0.75 * table.host_cpus, f"{name} may take the whole droplet"
    llm_side = sum(table.rows[name].cpus * table.rows[name].replicas for name in LLM_SIDE)
    assert llm_side <= 0.5 * table.host_cpus, f"coach + worker capped at {llm_side} cpus"
    core_share = services["core-api"]["cpu_shares"]
    for name in LLM_SIDE:
        assert services[name]["cpu_shares"] < core_share, f"{name} outranks core-api"
    for name in ("caddy", "postgres"):
        assert services[name]["cpu_shares"] >= core_share, name


# --- the real Compose, when this machine has it -----------------------------------


def test_docker_compose_accepts_the_files(tmp_path: Path) -> None:
    compose = compose_or_skip("config -q")
    work = stand_in_deploy(tmp_path / "deploy")
    variants = [
        ["-f", "docker-compose.prod.yml"],
        ["-f", "docker-compose.prod.yml", "--profile", "monitoring"],
        ["-f", "docker-compose.prod.yml", "-f", "docker-compose.small.yml"],
    ]
    for files in variants:
        result = subprocess.run(
            [*compose, *files, "config", "--quiet"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{files}: {result.stderr}"
    # Compose's own merge of the small override agrees with the tables.
    result = subprocess.run(
        [*compose, *variants[2], "config", "--format", "json"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    merged = json.loads(result.stdout)["services"]
    small = next(table for table in TABLES if table.droplet == "1vcpu-2gb")
    for name, row in small.rows.items():
        found = merged[name]["deploy"]["resources"]["limits"]
        assert int(found["memory"]) == row.memory_mib * 1024 * 1024, name
        assert float(found["cpus"]) == row.cpus, name


def test_the_readme_shows_the_same_capacity_tables() -> None:
    # The issue wants the table in the README; CAPACITY.md explains it. One must not drift.
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert parse_capacity_tables(readme) == capacity_tables()
    assert len(capacity_tables()) == 2
