"""The Kubernetes manifests (deploy/kubernetes/), built offline with `kubectl
kustomize` and validated with kubernetes-validate --strict; then one test per
property the deploy relies on, each failing when that property is removed.

No control plane can run here (../shared/brief/CONTAINERS.md): the behaviour
under a real rollout is proven where it can run (the coach's preStop hook and
drain against a real coach process, tests/coach/test_prestop.py); these hold
the manifests to the same properties by construction.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

from deploy.kubernetes_model import (
    API_PORTS,
    EDGE,
    KUBERNETES,
    METRICS_PORTS,
    MIGRATION_JOB,
    OVERLAYS,
    Resource,
    build,
    config_map_data,
    containers,
    env_values,
    main_container,
    of_kind,
    pod_labels,
    pod_spec,
    selects,
    workloads,
)
from deploy.model import load_yaml, streaming_capacity
from pacer_coach.metrics import OPEN_STREAMS
from pacer_coach.settings import CoachSettings
from pacer_common.web.load_shedding import NEVER_SHED_PATHS
from pacer_core_api.settings import CoreApiSettings

PACER_DEPLOYMENTS = ("core-api", "coach", "briefing-worker")
# The edge learns a pod has gone through DNS: CoreDNS's TTL for cluster names
# (5 s by default) plus Caddy's `dynamic a` refresh (base/Caddyfile), plus the
# endpoints update itself (about a second).
DNS_TTL_S = 5
ENDPOINTS_UPDATE_S = 1


def _default(settings: type[Any], name: str) -> float:
    return float(settings.model_fields[name].default)


# --- build and validate -------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_overlay_builds_with_kubectl_kustomize(overlay: str) -> None:
    kinds = {resource["kind"] for resource in build(overlay)}
    assert {"Deployment", "Job", "Service", "NetworkPolicy", "PodDisruptionBudget"} <= kinds


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_validates_strictly_against_the_newest_schema(overlay: str) -> None:
    version = latest_version()
    failures = []
    for resource in build(overlay):
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except Exception as error:  # the library's and jsonschema's errors alike
            message = getattr(error, "message", str(error))
            failures.append(f"{resource['kind']}/{resource['metadata']['name']}: {message}")
    assert not failures, f"against Kubernetes {version}:\n" + "\n".join(failures)


# --- 1. workloads -------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_workloads_run_the_same_services_as_compose(overlay: str) -> None:
    resources = build(overlay)
    assert set(of_kind(resources, "Deployment")) == {*PACER_DEPLOYMENTS, EDGE}
    assert set(of_kind(resources, "Job")) == {MIGRATION_JOB}
    in_cluster = set(of_kind(resources, "StatefulSet"))
    # Postgres and Redis are managed services unless the overlay is one node.
    assert in_cluster == ({"postgres", "redis"} if overlay == "single-node" else set())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_edge_is_exposed_and_no_service_routes_a_metrics_port(overlay: str) -> None:
    services = of_kind(build(overlay), "Service")
    for name, service in services.items():
        kind = service["spec"].get("type", "ClusterIP")
        assert kind == ("LoadBalancer" if name == EDGE else "ClusterIP"), f"{name}: {kind}"
        for port in service["spec"]["ports"]:
            assert port["port"] not in METRICS_PORTS.values(), f"{name} routes {port}"
            assert port.get("targetPort") != "metrics", f"{name} routes a metrics port"
    assert {port["port"] for port in services[EDGE]["spec"]["ports"]} == {80, 443}
    # The client's address survives the load balancer (the login throttle needs it).
    assert services[EDGE]["spec"]["externalTrafficPolicy"] == "Local"
    for name, port in API_PORTS.items():
        # Headless: the edge balances over the ready pods themselves.
        assert services[name]["spec"]["clusterIP"] == "None", name
        assert [p["port"] for p in services[name]["spec"]["ports"]] == [port], name


# --- 2. migrations ------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_job_migrates_waiting_for_postgres_and_failing_loudly(overlay: str) -> None:
    resources = build(overlay)
    job = of_kind(resources, "Job")[MIGRATION_JOB]
    container = main_container(job)
    assert container["command"] == ["python", "-m", "pacer_core_api.migrate"]
    # core-api's image: the migrations it applies are the ones core-api expects.
    core_api = main_container(of_kind(resources, "Deployment")["core-api"])
    assert container["image"] == core_api["image"]
    # Waits for Postgres (the pool retries) long enough for a StatefulSet to start.
    assert float(env_values(container)["DB_STARTUP_WAIT_SECONDS"]) >= 120
    # A failed migration fails the Job (non-zero exit, never restarted in place),
    # after at most one retry, and a hung one is ended.
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] <= 2
    assert 0 < job["spec"]["activeDeadlineSeconds"] <= 3600
    # It never sees the signing key.
    assert all("private" not in str(volume) for volume in pod_spec(job)["volumes"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_app_pods_never_migrate_and_wait_for_the_schema(overlay: str) -> None:
    resources = build(overlay)
    settings = config_map_data(resources, "pacer-settings")
    assert settings["RUN_MIGRATIONS_ON_STARTUP"] == "false"
    deployments = of_kind(resources, "Deployment")
    for name in PACER_DEPLOYMENTS:
        for container in containers(deployments[name]):
            sources = [s.get("configMapRef", {}).get("name", "") for s in container["envFrom"]]
            if container["name"] == name:
                assert any(s.startswith("pacer-settings") for s in sources), name
            assert "RUN_MIGRATIONS_ON_STARTUP" not in env_values(container), name
    # core-api and the coach: not ready until the schema is there (their
    # readiness route checks it, pacer_common.web.readiness).
    for name in API_PORTS:
        assert main_container(deployments[name])["readinessProbe"]["httpGet"]["path"] == (
            "/health/ready"
        )
    # The worker takes jobs whether or not it is ready: it waits in an init container.
    worker = deployments["briefing-worker"]
    (init,) = pod_spec(worker)["initContainers"]
    assert init["command"] == ["python", "-m", "pacer_common.migrations.wait"]
    assert init["image"] == main_container(worker)["image"]


# --- 3. probes ----------------------------------------------------------------------


def _probe_target(probe: dict[str, Any]) -> str:
    if "httpGet" in probe:
        return f"http {probe['httpGet']['port']}{probe['httpGet']['path']}"
    if "tcpSocket" in probe:
        return f"tcp {probe['tcpSocket']['port']}"
    return f"exec {probe['exec']['command']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_long_running_container_has_three_probes(overlay: str) -> None:
    for name, workload in workloads(build(overlay)).items():
        if workload["kind"] == "Job":
            continue
        for container in containers(workload, init=False):
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert kind in container, f"{name}/{container['name']}: no {kind}"
            probe = container["livenessProbe"]
            # Never the 1 s default that restarted busy pods (LiteLLM #9998).
            assert probe["timeoutSeconds"] >= 3, f"{name}: liveness timeout"
            window = probe["periodSeconds"] * probe["failureThreshold"]
            assert window >= 30, f"{name}: restarted after {window} s without an answer"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pacer_services_probe_liveness_without_io_and_readiness_on_dependencies(
    overlay: str,
) -> None:
    deployments = of_kind(build(overlay), "Deployment")
    expected = {
        # liveness: the loop answers, no I/O; readiness: Postgres, schema, Redis, draining.
        "core-api": ("http http/health", "http http/health/ready"),
        "coach": ("http http/health", "http http/health/ready"),
        # The worker's /health is the reaper's rhythm (it needs Postgres): an
        # outage must not restart it, so liveness is the in-process /metrics.
        "briefing-worker": ("http metrics/metrics", "http metrics/health"),
    }
    for name, (liveness, readiness) in expected.items():
        container = main_container(deployments[name])
        assert _probe_target(container["livenessProbe"]) == liveness, name
        assert _probe_target(container["readinessProbe"]) == readiness, name
        assert liveness != readiness


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probe_timeouts_cover_what_the_service_itself_waits(overlay: str) -> None:
    deployments = of_kind(build(overlay), "Deployment")
    # Readiness: core-api runs its checks together, the coach one after another
    # (Postgres with the schema, then Redis), each bounded by this.
    check_s = _default(CoreApiSettings, "READY_CHECK_TIMEOUT_SECONDS")
    bounds = {"core-api": check_s, "coach": 2 * check_s}
    for name, bound in bounds.items():
        readiness = main_container(deployments[name])["readinessProbe"]
        # The service answers 503 naming the failed check before the probe gives up.
        assert readiness["timeoutSeconds"] > bound, name
        # Start-up: the pool retries Postgres this long before the app answers.
        startup = main_container(deployments[name])["startupProbe"]
        wait_s = _default(CoreApiSettings, "DB_STARTUP_WAIT_SECONDS")
        assert startup["periodSeconds"] * startup["failureThreshold"] > wait_s, name


# --- 4. rollouts that never cut a reply ---------------------------------------------


def _caddy_dns_refresh_s() -> float:
    text = (KUBERNETES / "base" / "Caddyfile").read_text(encoding="utf-8")
    refreshes = {float(s) for s in re.findall(r"refresh (\d+(?:\.\d+)?)s", text)}
    assert len(refreshes) == 1, refreshes
    return refreshes.pop()


def _prestop_arguments(container: dict[str, Any]) -> dict[str, float]:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:3] == ["python", "-m", "pacer_coach.prestop"]
    found = dict(argument.removeprefix("--").split("=", 1) for argument in command[3:])
    return {key: float(value) for key, value in found.items()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_coach_waits_for_its_replies_before_sigterm_and_has_the_time(overlay: str) -> None:
    coach = of_kind(build(overlay), "Deployment")["coach"]
    container = main_container(coach)
    env = env_values(container)
    hook = _prestop_arguments(container)
    # First until the edge can no longer send it a chat.
    assert hook["min-seconds"] >= DNS_TTL_S + _caddy_dns_refresh_s() + ENDPOINTS_UPDATE_S
    # Then until its replies end: at most the longest a reply runs.
    assert hook["max-seconds"] >= float(env["COACH_STREAM_TIMEOUT_SECONDS"])
    # The grace period counts from the hook's start: it covers the longest
    # wait, then the drain and hypercorn's graceful stop after SIGTERM.
    needed = (
        hook["max-seconds"]
        + float(env["COACH_DRAIN_SECONDS"])
        + float(env["COACH_GRACEFUL_TIMEOUT_SECONDS"])
    )
    assert pod_spec(coach)["terminationGracePeriodSeconds"] >= needed + 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_api_outlives_the_edges_dns_and_its_own_graceful_stop(overlay: str) -> None:
    core_api = of_kind(build(overlay), "Deployment")["core-api"]
    container = main_container(core_api)
    sleep_s = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep_s >= DNS_TTL_S + _caddy_dns_refresh_s() + ENDPOINTS_UPDATE_S
    graceful_s = float(env_values(container)["CORE_API_GRACEFUL_TIMEOUT_SECONDS"])
    assert pod_spec(core_api)["terminationGracePeriodSeconds"] >= sleep_s + graceful_s + 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rollouts_keep_every_serving_pod_until_its_successor_is_ready(overlay: str) -> None:
    deployments = of_kind(build(overlay), "Deployment")
    for name in API_PORTS:
        rolling = deployments[name]["spec"]["strategy"]["rollingUpdate"]
        assert rolling["maxUnavailable"] == 0, name
        # A rollout whose new pods never get ready (the Job failed) stops and says so.
        assert deployments[name]["spec"]["progressDeadlineSeconds"] <= 900, name


# --- 5. autoscaling and disruption budgets ------------------------------------------


def _adapter_metric_names() -> set[str]:
    values = load_yaml(KUBERNETES / "monitoring" / "prometheus-adapter-values.yaml")
    return {rule["name"]["as"] for rule in values["rules"]["custom"]}


def test_production_scales_core_api_on_cpu_and_the_coach_on_its_open_streams() -> None:
    resources = build("production")
    autoscalers = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa
        for hpa in of_kind(resources, "HorizontalPodAutoscaler").values()
    }
    assert set(autoscalers) == {"core-api", "coach"}
    (cpu,) = autoscalers["core-api"]["spec"]["metrics"]
    assert (cpu["type"], cpu["resource"]["name"]) == ("Resource", "cpu")
    (streams,) = autoscalers["coach"]["spec"]["metrics"]
    assert streams["type"] == "Pods"
    metric = streams["pods"]["metric"]["name"]
    # The gauge the coach exports, served by the adapter under that name.
    assert metric == OPEN_STREAMS._name
    assert metric in _adapter_metric_names()
    # Aimed below the point where a pod warns, so a new one is up before any is full.
    target = float(streams["pods"]["target"]["averageValue"])
    assert target < _default(CoachSettings, "SSE_WARN_CONNECTIONS")
    # ... and below what one coach at its CPU limit was measured to relay at 100
    # tokens/s, a real model's rate (CAPACITY.md's streaming table, its coach row).
    assert target <= streaming_capacity()["2vcpu-4gb coach"][100.0]
    # Scale-downs end pods only after a lull has lasted, one pod at a time.
    scale_down = autoscalers["coach"]["spec"]["behavior"]["scaleDown"]
    assert scale_down["stabilizationWindowSeconds"] >= 300
    assert all(p["type"] == "Pods" and p["value"] == 1 for p in scale_down["policies"])
    # An autoscaled Deployment names no replica count (an apply would reset it).
    deployments = of_kind(resources, "Deployment")
    for name in autoscalers:
        assert "replicas" not in deployments[name]["spec"], name
    # The worker is fixed at one (README, "Autoscaling", says why).
    assert deployments["briefing-worker"]["spec"]["replicas"] == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget_that_lets_a_drain_proceed(
    overlay: str,
) -> None:
    resources = build(overlay)
    budgets = of_kind(resources, "PodDisruptionBudget").values()
    for name, deployment in of_kind(resources, "Deployment").items():
        labels = pod_labels(deployment)
        covering = [b for b in budgets if selects(b["spec"]["selector"], labels)]
        assert len(covering) == 1, f"{name}: {len(covering)} budgets"
        # One pod at a time: never zero (a drain would hang), never all of
        # core-api's or the coach's (at least 2 in production).
        assert covering[0]["spec"].get("maxUnavailable") == 1, name


# --- 6. security --------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_non_root_confined_and_without_a_token(overlay: str) -> None:
    for name, workload in workloads(build(overlay)).items():
        spec = pod_spec(workload)
        # None of them talks to the Kubernetes API.
        assert spec.get("automountServiceAccountToken") is False, name
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["runAsUser"] != 0, name
        assert context["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in containers(workload):
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert "privileged" not in security, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_namespace_enforces_the_restricted_pod_security_standard(overlay: str) -> None:
    (namespace,) = of_kind(build(overlay), "Namespace").values()
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(
        r["metadata"].get("namespace") == namespace["metadata"]["name"]
        for r in build(overlay)
        if r["kind"] not in {"Namespace"}
    )


def _allowed_sources(
    policies: list[Resource], labels: dict[str, str], port: int
) -> list[list[dict[str, Any]]]:
    """For each ingress rule that selects these pods and lets this port in: its `from`."""
    sources = []
    for policy in policies:
        if not selects(policy["spec"]["podSelector"], labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports is None or any(p.get("port") == port for p in ports):
                sources.append(rule.get("from", []))
    return sources


def _from_pods(source: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [peer.get("podSelector", {}).get("matchLabels", {}) for peer in source]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_is_denied_by_default_and_allowed_only_where_the_topology_needs(
    overlay: str,
) -> None:
    resources = build(overlay)
    policies = list(of_kind(resources, "NetworkPolicy").values())
    default_deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and p["spec"]["policyTypes"] == ["Ingress"]
        and not p["spec"].get("ingress")
    ]
    assert default_deny, "no default-deny ingress policy"
    pods = {name: pod_labels(w) for name, w in workloads(resources).items()}
    edge = {"app.kubernetes.io/name": EDGE}
    # The edge from anywhere, on 80 and 443 only.
    for port in (80, 443):
        assert [] in _allowed_sources(policies, pods[EDGE], port), port
    for name, port in API_PORTS.items():
        sources = _allowed_sources(policies, pods[name], port)
        # Only from the edge.
        assert sources and all(_from_pods(s) == [edge] for s in sources), name
    for name, port in METRICS_PORTS.items():
        sources = _allowed_sources(policies, pods[name], port)
        assert sources, f"{name}: Prometheus cannot scrape it"
        for source in sources:
            # Never from anywhere, never from the edge: only Prometheus's namespace.
            assert source, f"{name}: metrics port {port} open to every source"
            for peer in source:
                assert "namespaceSelector" in peer, f"{name}: {peer}"
                assert peer.get("podSelector", {}).get("matchLabels") != edge
    for store, port in (("postgres", 5432), ("redis", 6379)):
        if store not in pods:
            continue
        sources = _allowed_sources(policies, pods[store], port)
        assert sources and all(s for s in sources), f"{store} open to every source"
        clients = [
            labels for name, labels in pods.items() if name not in {EDGE, "postgres", "redis"}
        ]
        for labels in clients:
            # Every service that needs it, and the migration Job, may reach it...
            assert any(selects({"matchLabels": p}, labels) for s in sources for p in _from_pods(s))
        # ...and the edge may not.
        assert not any(
            selects({"matchLabels": p}, pods[EDGE]) for s in sources for p in _from_pods(s)
        )


# --- 7/8. images and resources ------------------------------------------------------

_VERSION_TAG = re.compile(r"^v?\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?$")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_is_pinned_to_a_version(overlay: str) -> None:
    for name, workload in workloads(build(overlay)).items():
        for container in containers(workload):
            image = container["image"]
            repository, _, tag = image.rpartition(":")
            assert repository and "/" not in tag, f"{name}: {image} has no tag"
            assert tag != "latest" and _VERSION_TAG.match(tag), f"{name}: {image} is not pinned"
    dockerfile = (KUBERNETES / "caddy.Dockerfile").read_text(encoding="utf-8")
    (base,) = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert _VERSION_TAG.match(base.rpartition(":")[2].removesuffix("-alpine")), base


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_requests_and_is_limited(overlay: str) -> None:
    for name, workload in workloads(build(overlay)).items():
        for container in containers(workload):
            resources = container.get("resources", {})
            for key in ("requests", "limits"):
                # Requests never left to default to the limits (CONTAINERS.md).
                assert set(resources.get(key, {})) == {"cpu", "memory"}, (
                    f"{name}/{container['name']}: {key}"
                )


# --- the deploy order ---------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deploy_sh_applies_the_job_before_any_deployment(overlay: str) -> None:
    script = (KUBERNETES / "deploy.sh").read_text(encoding="utf-8")
    checked = subprocess.run(["bash", "-n", str(KUBERNETES / "deploy.sh")], check=False)
    assert checked.returncode == 0
    (excluded,) = re.findall(r"component notin \(([a-z,-]+)\)", script)
    resources = build(overlay)
    # The first apply leaves out exactly the Deployments, and keeps the Job.
    components = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]
        for d in of_kind(resources, "Deployment").values()
    }
    assert set(excluded.split(",")) == components
    job = of_kind(resources, "Job")[MIGRATION_JOB]
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] not in components
    namespace = next(iter(of_kind(resources, "Namespace")))
    assert f"namespace=${{PACER_NAMESPACE:-{namespace}}}" in script
    assert script.count(f"job/{MIGRATION_JOB}") >= 3
    for name in of_kind(resources, "Deployment"):
        assert name in script.split("for deployment in ")[1].split(";")[0], name
    # The rollout comes only after the wait for the Job.
    wait_at = script.index("--for=condition=complete")
    assert script.index('kubectl apply -f "$manifests"\n') > wait_at


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_probe_of_a_pacer_service_can_be_shed_under_load(overlay: str) -> None:
    # An overloaded pod sheds new requests (503), never its probes: failing the
    # probes of every busy pod at once would turn overload into an outage.
    deployments = of_kind(build(overlay), "Deployment")
    for name in PACER_DEPLOYMENTS:
        container = main_container(deployments[name])
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[kind]["httpGet"]["path"] in NEVER_SHED_PATHS, (name, kind)


def test_prometheus_scrapes_the_metrics_port_of_every_pacer_pod() -> None:
    monitor = load_yaml(KUBERNETES / "monitoring" / "podmonitor.yaml")
    resources = build("production")
    namespace = next(iter(of_kind(resources, "Namespace")))
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [namespace]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    deployments = of_kind(resources, "Deployment")
    for name, port in METRICS_PORTS.items():
        assert selects(monitor["spec"]["selector"], pod_labels(deployments[name])), name
        ports = {p["name"]: p["containerPort"] for p in main_container(deployments[name])["ports"]}
        assert ports[endpoint["port"]] == port, name
    assert not selects(monitor["spec"]["selector"], pod_labels(deployments[EDGE]))
    # The alert rules group by `job`: the service's name, as with Compose.
    (relabel,) = endpoint["relabelings"]
    assert relabel["targetLabel"] == "job"
    assert relabel["sourceLabels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
