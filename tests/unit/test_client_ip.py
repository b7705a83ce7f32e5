"""core-api's client_ip: X-Forwarded-For is believed only from a trusted proxy,
and then only its last entry (the address the proxy itself saw)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from pacer_core_api.client_ip import client_ip

PROXY = "10.0.0.2"
TRUSTED = frozenset({PROXY})
NETWORKS = frozenset({"10.244.0.0/16", "2001:db8::/64"})


def request_from(peer: str | None, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode("latin-1")) for value in forwarded]
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/v1/auth/login",
            "headers": headers,
            "client": (peer, 51234) if peer is not None else None,
        }
    )


# (peer, X-Forwarded-For, trusted proxies, the client_ip expected)
CASES = [
    # A trusted proxy names the client in its last entry.
    pytest.param(PROXY, "203.0.113.7", TRUSTED, "203.0.113.7", id="one-entry"),
    # A client may send its own X-Forwarded-For; the proxy appends what it saw.
    pytest.param(PROXY, "1.2.3.4, 203.0.113.7", TRUSTED, "203.0.113.7", id="chain-last-wins"),
    pytest.param(
        PROXY, "1.2.3.4,5.6.7.8,  203.0.113.7  ", TRUSTED, "203.0.113.7", id="chain-with-spaces"
    ),
    pytest.param(PROXY, "2001:db8::1", TRUSTED, "2001:db8::1", id="ipv6"),
    pytest.param(PROXY, "203.0.113.7, ", TRUSTED, PROXY, id="empty-last-entry-is-the-peer"),
    pytest.param(PROXY, " ", TRUSTED, PROXY, id="blank-is-the-peer"),
    pytest.param(PROXY, "x" * 100, TRUSTED, "x" * 64, id="long-value-capped-at-64"),
    # An untrusted peer cannot name another address.
    pytest.param("198.51.100.9", "203.0.113.7", TRUSTED, "198.51.100.9", id="untrusted-peer"),
    pytest.param(PROXY, None, TRUSTED, PROXY, id="trusted-proxy-without-the-header"),
    pytest.param(PROXY, "203.0.113.7", frozenset(), PROXY, id="no-trusted-proxies"),
    pytest.param(None, "203.0.113.7", TRUSTED, "unknown", id="no-peer-address"),
    # Kubernetes: the edge's pod address changes; the pod network is trusted.
    pytest.param("10.244.3.17", "203.0.113.7", NETWORKS, "203.0.113.7", id="in-pod-network"),
    pytest.param("10.245.0.1", "203.0.113.7", NETWORKS, "10.245.0.1", id="outside-it"),
    pytest.param("2001:db8::5", "203.0.113.7", NETWORKS, "203.0.113.7", id="ipv6-network"),
    pytest.param("not-an-address", "203.0.113.7", NETWORKS, "not-an-address", id="not-an-ip"),
]


@pytest.mark.parametrize(("peer", "forwarded", "trusted", "expected"), CASES)
def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
    peer: str | None, forwarded: str | None, trusted: frozenset[str], expected: str
) -> None:
    headers = () if forwarded is None else (forwarded,)
    assert client_ip(request_from(peer, *headers), trusted) == expected
