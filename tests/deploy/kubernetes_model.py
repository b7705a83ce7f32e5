"""Read deploy/kubernetes/ as data: each overlay built by `kubectl kustomize`
(offline: Kustomize needs no cluster), and the Kubernetes tables of
deploy/CAPACITY.md.

No control plane runs here (../shared/brief/CONTAINERS.md): the tests check the
built manifests, which is what `kubectl apply -k` would send.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.model import CAPACITY_MD, DEPLOY

KUBERNETES = DEPLOY / "kubernetes"
OVERLAYS = ("single-node", "production")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
# The Pacer services' pods and their ports (the images' defaults).
API_PORTS = {"core-api": 8001, "coach": 8002}
METRICS_PORTS = {"core-api": 9101, "coach": 9102, "briefing-worker": 9103}
EDGE = "caddy"
MIGRATION_JOB = "pacer-migrate"

Resource = dict[str, Any]


def overlay_dir(overlay: str) -> Path:
    return KUBERNETES / "overlays" / overlay


def kubectl_or_skip() -> str:
    """kubectl (1.32+ carries Kustomize 5.5), or skip saying what was not run."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        reason = "no kubectl on PATH: the Kubernetes overlays were not built or checked"
        print(reason)
        pytest.skip(reason)
    return kubectl


def kustomize(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl_or_skip(), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@functools.cache
def _built(folder: Path) -> tuple[int, str, str]:
    result = kustomize(folder)
    return result.returncode, result.stdout, result.stderr


def build(overlay: str | Path) -> list[Resource]:
    """Every resource of an overlay (a name in OVERLAYS, or a folder), built once per run."""
    folder = overlay if isinstance(overlay, Path) else overlay_dir(overlay)
    code, stdout, stderr = _built(folder)
    assert code == 0, f"kubectl kustomize {folder}: {stderr}"
    return [doc for doc in yaml.safe_load_all(stdout) if doc]


def of_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def workloads(resources: list[Resource]) -> dict[str, Resource]:
    """Deployments, StatefulSets and Jobs by name (names are unique across kinds here)."""
    found: dict[str, Resource] = {}
    for kind in WORKLOAD_KINDS:
        found.update(of_kind(resources, kind))
    return found


def pod_spec(workload: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Resource) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def containers(workload: Resource, *, init: bool = True) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    found: list[dict[str, Any]] = list(spec.get("initContainers", [])) if init else []
    return found + list(spec["containers"])


def main_container(workload: Resource) -> dict[str, Any]:
    first: dict[str, Any] = pod_spec(workload)["containers"][0]
    return first


def env_values(container: dict[str, Any]) -> dict[str, str]:
    """The container's literal `env` values (not those from a ConfigMap or Secret)."""
    return {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}


def config_map_data(resources: list[Resource], name: str) -> dict[str, str]:
    """A generated ConfigMap by its name before Kustomize's hash suffix."""
    for found in of_kind(resources, "ConfigMap").values():
        if re.fullmatch(rf"{re.escape(name)}(-[a-z0-9]{{10}})?", found["metadata"]["name"]):
            data: dict[str, str] = found.get("data", {})
            return data
    raise AssertionError(f"no ConfigMap {name}")


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels / matchExpressions In, NotIn, Exists) against labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m?)$")
_MEMORY_UNITS = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "": 1 / (1024 * 1024)}
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|)$")


def cpu_cores(quantity: str | int | float) -> float:
    match = _CPU.match(str(quantity))
    if match is None:
        raise ValueError(f"not a CPU quantity this project uses: {quantity!r}")
    value = float(match.group(1))
    return value / 1000 if match.group(2) else value


def memory_mib(quantity: str | int) -> float:
    match = _MEMORY.match(str(quantity))
    if match is None:
        raise ValueError(f"not a memory quantity this project uses: {quantity!r}")
    return float(match.group(1)) * _MEMORY_UNITS[match.group(2)]


# --- CAPACITY.md, "Kubernetes" ------------------------------------------------------


@dataclass(frozen=True)
class KubernetesRow:
    workload: str
    replicas: int
    max_replicas: int
    cpu_request: float


@dataclass(frozen=True)
class KubernetesTable:
    overlay: str
    limits: str  # the droplet table the limits come from
    attributes: dict[str, str]
    rows: dict[str, KubernetesRow]


_K8S_MARKER = re.compile(r"<!--\s*kubernetes:(?P<attributes>[^>]*)-->")
_K8S_COLUMNS = ["workload", "replicas", "max replicas", "cpu request", "why"]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def kubernetes_tables() -> dict[str, KubernetesTable]:
    lines = CAPACITY_MD.read_text(encoding="utf-8").splitlines()
    tables: dict[str, KubernetesTable] = {}
    for index, line in enumerate(lines):
        marker = _K8S_MARKER.search(line)
        if marker is None:
            continue
        attributes = dict(item.split("=", 1) for item in marker.group("attributes").split())
        assert _cells(lines[index + 1]) == _K8S_COLUMNS, f"columns must be {_K8S_COLUMNS}"
        rows: dict[str, KubernetesRow] = {}
        for row_line in lines[index + 3 :]:
            if not row_line.startswith("|"):
                break
            cells = dict(zip(_K8S_COLUMNS, _cells(row_line), strict=True))
            rows[cells["workload"]] = KubernetesRow(
                workload=cells["workload"],
                replicas=int(cells["replicas"]),
                max_replicas=int(cells["max replicas"]),
                cpu_request=float(cells["cpu request"]),
            )
        tables[attributes["overlay"]] = KubernetesTable(
            overlay=attributes["overlay"],
            limits=attributes["limits"],
            attributes=attributes,
            rows=rows,
        )
    return tables


def table_name(workload: str) -> str:
    """A workload's row in the Kubernetes tables: the Job is `migrate`."""
    return "migrate" if workload == MIGRATION_JOB else workload


def limits_row_name(workload: str) -> str:
    """Its row in the droplet table (by workload or table name): the Job runs
    core-api's image, so core-api's."""
    return "core-api" if workload in {MIGRATION_JOB, "migrate"} else workload
