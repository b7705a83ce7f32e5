"""core-api believes X-Forwarded-For from Caddy's address alone, in production.

The login throttle counts per client address; a container that could take
Caddy's address would be believed when it names any address it likes.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from deploy.model import PROD_COMPOSE, environment, load_yaml

PROD: dict[str, Any] = load_yaml(PROD_COMPOSE)


def test_no_other_container_can_be_given_caddys_address() -> None:
    caddy = ipaddress.ip_address(PROD["services"]["caddy"]["networks"]["default"]["ipv4_address"])
    (pool,) = PROD["networks"]["default"]["ipam"]["config"]
    subnet = ipaddress.IPv4Network(pool["subnet"])
    dynamic = ipaddress.IPv4Network(pool["ip_range"])
    assert caddy in subnet
    # Docker hands out addresses from ip_range only: Caddy's fixed one lies outside it.
    assert dynamic.subnet_of(subnet)
    assert caddy not in dynamic
    for name, service in PROD["services"].items():
        if name != "caddy":
            networks = service.get("networks") or {}
            pinned = [n.get("ipv4_address") for n in networks.values() if isinstance(n, dict)]
            assert str(caddy) not in pinned, f"{name} pins Caddy's address"


def test_only_core_api_reads_forwarded_addresses_and_only_from_caddy() -> None:
    caddy_address = PROD["services"]["caddy"]["networks"]["default"]["ipv4_address"]
    for name, service in PROD["services"].items():
        trusted = environment(service).get("TRUSTED_PROXIES")
        if name == "core-api":
            assert trusted == caddy_address
        else:
            assert trusted is None, name
    # The shared env file must not widen it for every service.
    example = (PROD_COMPOSE.parent / ".env.prod.example").read_text(encoding="utf-8")
    assert "TRUSTED_PROXIES" not in example
