"""deploy/docker-compose.local.yml, read as text: it changes only what it says it changes
(issue 21: "the override is the only local difference"), and publishes only on loopback."""

from __future__ import annotations

from typing import Any

import yaml

from deploy.model import DEPLOY, PROD_COMPOSE, load_yaml

LOCAL_COMPOSE = DEPLOY / "docker-compose.local.yml"
# What the local file may set, per production service: images (no registry), Caddy's
# published port (loopback only), the settings file, the coach's replica count.
ALLOWED = {
    "caddy": {"image", "ports"},
    "core-api": {"env_file"},
    "coach": {"env_file", "deploy"},
    "briefing-worker": {"env_file"},
    "postgres": {"image"},
    "redis": {"image"},
}


class _Tagged(yaml.SafeLoader):
    """Compose's `!override` / `!reset` tags, read as their plain values."""


def _tagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Tagged.add_multi_constructor("!", _tagged)


def _local() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(LOCAL_COMPOSE.read_text(), Loader=_Tagged)
    return loaded


def test_the_local_file_changes_only_what_it_declares() -> None:
    local = _local()
    prod = load_yaml(PROD_COMPOSE)
    assert set(local) <= {"services", "secrets", "configs"}
    for name, service in local["services"].items():
        if name in prod["services"]:
            assert set(service) <= ALLOWED[name], f"{name}: {set(service) - ALLOWED[name]}"
    # The only service it adds is the LLM simulator.
    assert set(local["services"]) - set(prod["services"]) == {"llm-sim"}
    assert local["services"]["coach"]["deploy"] == {"replicas": "${COACH_REPLICAS:-1}"}
    # The secrets and configs it names are production's, from another folder.
    assert set(local["secrets"]) == set(prod["secrets"])
    assert set(local["configs"]) == {"caddyfile"}


def test_the_local_file_publishes_only_on_loopback() -> None:
    local = _local()
    for name, service in local["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"
    assert local["services"]["caddy"]["ports"] == ["127.0.0.1:${PACER_CONTAINERS_PORT:-8443}:443"]
