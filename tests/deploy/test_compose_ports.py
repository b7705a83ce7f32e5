"""Nothing but Caddy is reachable from outside the droplet: the services trust the
proxy (X-Forwarded-For from Caddy's fixed address, issue 9), so a published
service port would let anyone walk around it."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.model import capacity_tables, load_compose

# What Caddy publishes: HTTP (the ACME challenge and the redirect), HTTPS, HTTP/3.
CADDY_PUBLISHED = {("80", "tcp"), ("443", "tcp"), ("443", "udp")}
# Reached through an SSH tunnel only (RUNBOOK.md).
LOOPBACK_ONLY = {"prometheus"}
TABLES = capacity_tables()


def _published(port: Any) -> tuple[str, str, str]:
    """(host address, published port, protocol) of one `ports:` entry, short or long syntax."""
    if isinstance(port, dict):
        return (
            str(port.get("host_ip", "")),
            str(port.get("published", "")),
            str(port.get("protocol", "tcp")),
        )
    text, _, protocol = str(port).partition("/")
    parts = text.rsplit(":", 2)
    host_ip = parts[0] if len(parts) == 3 else ""
    published = parts[-2] if len(parts) >= 2 else parts[-1]
    return host_ip, published, protocol or "tcp"


def exposure_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in doc["services"].items():
        if service.get("network_mode") == "host":
            problems.append(f"{name} shares the host's network")
        ports = [_published(port) for port in service.get("ports", [])]
        if name == "caddy":
            if {(published, protocol) for _, published, protocol in ports} != CADDY_PUBLISHED:
                problems.append(f"caddy publishes {ports}")
        elif name in LOOPBACK_ONLY:
            problems += [
                f"{name} publishes {p} beyond loopback" for p in ports if p[0] != "127.0.0.1"
            ]
        elif ports:
            problems.append(f"{name} publishes {ports}")
    return problems


@pytest.mark.parametrize("table", TABLES, ids=[table.droplet for table in TABLES])
def test_only_caddy_publishes_ports_on_each_droplet(table: Any) -> None:
    doc = load_compose(table.compose)
    assert {"caddy", "core-api", "coach", "postgres", "redis"} <= set(doc["services"])
    assert exposure_problems(doc) == []


def test_the_check_catches_a_published_service_port() -> None:
    doc = load_compose(TABLES[0].compose)
    doc["services"]["core-api"]["ports"] = ["127.0.0.1:8001:8001"]
    doc["services"]["postgres"]["ports"] = [{"target": 5432, "published": 5432}]
    doc["services"]["redis"]["network_mode"] = "host"
    doc["services"]["prometheus"]["ports"] = ["9090:9090"]
    problems = exposure_problems(doc)
    assert len(problems) == 4, problems
