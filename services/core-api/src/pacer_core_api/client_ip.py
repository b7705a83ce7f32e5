"""The client's address, trusting X-Forwarded-For only from the proxy.

``TRUSTED_PROXIES`` names the proxy by address (Compose gives Caddy a fixed
one) or by network: on Kubernetes the edge's pod address changes with every
restart, so the cluster's pod network is trusted instead, and the network
policies let only the edge reach core-api's port from it.
"""

from __future__ import annotations

import functools
import ipaddress

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def trusted_networks(trusted_proxies: frozenset[str]) -> tuple[Network, ...]:
    """Each entry as a network (an address is a /32 or /128); the settings refuse bad ones."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted_proxies)


def _is_trusted(peer: str, trusted_proxies: frozenset[str]) -> bool:
    if peer in trusted_proxies:
        return True
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in trusted_networks(trusted_proxies))


def client_ip(request: Request, trusted_proxies: frozenset[str]) -> str:
    peer = request.client.host if request.client else "unknown"
    if not _is_trusted(peer, trusted_proxies):
        return peer
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded:
        return peer
    # The proxy appends the address it saw: the last entry is the one to trust.
    return forwarded.split(",")[-1].strip()[:64] or peer
