"""One source of sizes: every pod's requests, limits and replicas in each
Kubernetes overlay come from deploy/CAPACITY.md ("Kubernetes"), as the Compose
files' do (test_compose.py). The rules are the ones that section states."""

from __future__ import annotations

import pytest

from deploy.kubernetes_model import (
    MIGRATION_JOB,
    OVERLAYS,
    KubernetesTable,
    Resource,
    build,
    config_map_data,
    containers,
    cpu_cores,
    kubernetes_tables,
    limits_row_name,
    memory_mib,
    of_kind,
    table_name,
    workloads,
)
from deploy.model import CapacityRow, CapacityTable, capacity_tables
from pacer_common.settings import ServiceSettings

TABLES = kubernetes_tables()
DROPLETS = {table.droplet: table for table in capacity_tables()}
# The pods that hold a Postgres pool of DB_POOL_MAX_SIZE connections each.
POOLED = ("core-api", "coach", "briefing-worker")


def _droplet(table: KubernetesTable) -> CapacityTable:
    return DROPLETS[table.limits]


def _limits_row(table: KubernetesTable, workload: str) -> CapacityRow:
    return _droplet(table).rows[limits_row_name(workload)]


def _autoscalers(resources: list[Resource]) -> dict[str, Resource]:
    return {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa
        for hpa in of_kind(resources, "HorizontalPodAutoscaler").values()
    }


def test_each_overlay_has_a_table() -> None:
    assert sorted(TABLES) == sorted(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_table_lists_every_workload_of_the_overlay(overlay: str) -> None:
    names = {table_name(name) for name in workloads(build(overlay))}
    assert names == set(TABLES[overlay].rows)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_limits_are_the_droplets_and_memory_requests_its_rss_under_load(overlay: str) -> None:
    table = TABLES[overlay]
    for name, workload in workloads(build(overlay)).items():
        row = _limits_row(table, name)
        load = row.rss_load.value
        assert load is not None, f"{name}: no RSS under load to request"
        for container in containers(workload):
            where = f"{name}/{container['name']}"
            limits = container["resources"]["limits"]
            requests = container["resources"]["requests"]
            assert memory_mib(limits["memory"]) == row.memory_mib, where
            assert cpu_cores(limits["cpu"]) == row.cpus, where
            assert memory_mib(requests["memory"]) == load, where
            assert cpu_cores(requests["cpu"]) == table.rows[table_name(name)].cpu_request, where
            assert cpu_cores(requests["cpu"]) <= row.cpus, where


def test_single_node_replicas_are_the_droplets() -> None:
    table = TABLES["single-node"]
    for name, workload in workloads(build("single-node")).items():
        row = table.rows[table_name(name)]
        if workload["kind"] != "Job":
            assert workload["spec"]["replicas"] == row.replicas, name
        if name != MIGRATION_JOB:
            # The memory budget of the droplet was worked out for these counts.
            droplet_row = _droplet(table).rows[name]
            assert (row.replicas, row.max_replicas) == (
                droplet_row.replicas,
                droplet_row.max_replicas,
            ), name
    # No autoscaler on one node: nothing to scale onto (README, "Autoscaling").
    assert _autoscalers(build("single-node")) == {}


def test_production_replicas_are_the_autoscalers_range() -> None:
    table = TABLES["production"]
    resources = build("production")
    autoscalers = _autoscalers(resources)
    for name, workload in workloads(resources).items():
        row = table.rows[table_name(name)]
        if name in autoscalers:
            spec = autoscalers[name]["spec"]
            assert (spec["minReplicas"], spec["maxReplicas"]) == (row.replicas, row.max_replicas)
            # At least two, so a drain or a rollout never leaves none.
            assert row.replicas >= 2, name
        elif workload["kind"] != "Job":
            assert workload["spec"]["replicas"] == row.replicas == row.max_replicas, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_cpu_requests_keep_core_api_ahead_of_the_llm_work(overlay: str) -> None:
    rows = TABLES[overlay].rows
    core_api = rows["core-api"].cpu_request
    for name in ("coach", "briefing-worker"):
        assert rows[name].cpu_request < core_api, f"{name} outweighs core-api"
    assert rows["briefing-worker"].cpu_request <= rows["coach"].cpu_request
    for name in ("caddy", "postgres", "redis"):
        if name in rows:
            assert rows[name].cpu_request >= core_api, name


def test_the_single_node_fits_its_node() -> None:
    table = TABLES["single-node"]
    droplet = _droplet(table)
    node_cpus = float(table.attributes["node_cpus"])
    assert node_cpus == droplet.host_cpus
    rows = table.rows.values()
    # CPU requests at the largest scale leave a quarter to the cluster's own pods.
    cpu = sum(row.cpu_request * row.max_replicas for row in rows)
    assert cpu <= 0.75 * node_cpus, f"{cpu} cores requested of {node_cpus}"
    # Memory requests at the largest scale, the Job and one rollout's extra pod
    # fit in what the droplet leaves after its host reserve.
    requests = {name: _limits_row(table, name).rss_load.value or 0.0 for name in table.rows}
    surge = max(requests[name] for name in ("core-api", "coach"))
    total = sum(requests[row.workload] * row.max_replicas for row in rows) + surge
    assert total <= droplet.host_memory_mib - droplet.host_reserve_mib
    # Limits of what runs all the time: the droplet's own budget (the Job comes and goes).
    limits = sum(
        _limits_row(table, row.workload).memory_mib * row.max_replicas
        for row in rows
        if row.workload != "migrate"
    )
    assert limits <= droplet.host_memory_mib - droplet.host_reserve_mib


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_postgres_pool_at_the_largest_scale_fits_the_connection_limit(
    overlay: str,
) -> None:
    table = TABLES[overlay]
    resources = build(overlay)
    settings = config_map_data(resources, "pacer-settings")
    default = ServiceSettings.model_fields["DB_POOL_MAX_SIZE"].default
    pool = int(settings.get("DB_POOL_MAX_SIZE", default))
    connections = sum(pool * table.rows[name].max_replicas for name in POOLED)
    connections += 1  # the migration Job's one
    limit = int(table.attributes["postgres_connections"])
    assert connections <= limit, f"{connections} connections of {limit}"
    postgres = of_kind(resources, "StatefulSet").get("postgres")
    if postgres is not None:
        args = postgres["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"max_connections={limit}" in args


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_caddys_go_memory_limit_is_under_its_container_limit(overlay: str) -> None:
    caddy = of_kind(build(overlay), "Deployment")["caddy"]
    container = containers(caddy)[0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    go_limit = memory_mib(str(env["GOMEMLIMIT"]).removesuffix("B"))
    assert go_limit < memory_mib(container["resources"]["limits"]["memory"])
