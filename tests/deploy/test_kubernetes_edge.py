"""The edge on Kubernetes: its Caddyfile is proxy/Caddyfile.j2 rendered for DNS
discovery, committed as deploy/kubernetes/base/Caddyfile and shipped as a
ConfigMap. Rendered and committed rather than generated at build time:
Kustomize runs no Python (exec plugins need alpha flags on every operator's
kubectl), and a committed file is what the operator's `kubectl apply -k` sends.
This test fails the moment the template and the file disagree; the fix is the
command in base/kustomization.yaml."""

from __future__ import annotations

import re

import pytest

from deploy.kubernetes_model import (
    API_PORTS,
    EDGE,
    KUBERNETES,
    METRICS_PORTS,
    OVERLAYS,
    build,
    config_map_data,
    main_container,
    of_kind,
)
from pacer_devstack.proxy import prod_values, render_caddyfile

CADDYFILE = KUBERNETES / "base" / "Caddyfile"
# Placeholders Caddy fills from its environment when it loads the file: one
# rendered file serves any domain, the overlay says which.
DOMAIN = "{$PACER_DOMAIN}"
ACME_EMAIL = "{$PACER_ACME_EMAIL}"


def _rendered() -> str:
    return render_caddyfile(prod_values(domain=DOMAIN, acme_email=ACME_EMAIL, discovery="dns"))


def test_the_committed_caddyfile_is_the_templates_rendering() -> None:
    assert CADDYFILE.read_text(encoding="utf-8") == _rendered(), (
        "deploy/kubernetes/base/Caddyfile drifted from proxy/Caddyfile.j2: render it again "
        "(the command is in deploy/kubernetes/base/kustomization.yaml)"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_edges_config_map_is_that_file_and_caddy_mounts_it(overlay: str) -> None:
    resources = build(overlay)
    assert config_map_data(resources, "caddy-config")["Caddyfile"] == _rendered()
    caddy = of_kind(resources, "Deployment")[EDGE]
    volumes = caddy["spec"]["template"]["spec"]["volumes"]
    (config,) = [v for v in volumes if "configMap" in v]
    assert config["configMap"]["name"].startswith("caddy-config")
    mounts = main_container(caddy)["volumeMounts"]
    assert {"name": config["name"], "mountPath": "/etc/caddy", "readOnly": True} in mounts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_edges_upstreams_are_the_api_services_never_a_metrics_port(overlay: str) -> None:
    upstreams = set(re.findall(r"dynamic a (\S+) (\d+)", _rendered()))
    assert upstreams == {(name, str(port)) for name, port in API_PORTS.items()}
    services = of_kind(build(overlay), "Service")
    for name, port in upstreams:
        assert [p["port"] for p in services[name]["spec"]["ports"]] == [int(port)]
    assert not {str(port) for port in METRICS_PORTS.values()} & {p for _, p in upstreams}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_placeholder_of_the_caddyfile_is_set_in_caddys_environment(overlay: str) -> None:
    placeholders = set(re.findall(r"\{\$([A-Z_][A-Z0-9_]*)\}", _rendered()))
    assert placeholders == {"PACER_DOMAIN", "PACER_ACME_EMAIL"}
    resources = build(overlay)
    env = main_container(of_kind(resources, "Deployment")[EDGE])["env"]
    names = {e["name"] for e in env}
    assert placeholders <= names
    edge_settings = config_map_data(resources, "edge-settings")
    for name in placeholders:
        assert edge_settings[name], name
