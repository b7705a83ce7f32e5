"""core-api's client_ip: X-Forwarded-For is believed only from a trusted proxy,
and then only its last entry (the address the proxy itself saw)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from pacer_core_api.client_ip import client_ip

PROXY = "10.0.0.2"
TRUSTED = frozenset({PROXY})


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


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        pytest.param("203.0.113.7", "203.0.113.7", id="one-entry"),
        # A client may send its own X-Forwarded-For; the proxy appends what it saw.
        pytest.param("1.2.3.4, 203.0.113.7", "203.0.113.7", id="chain-last-wins"),
        pytest.param("1.2.3.4,5.6.7.8,  203.0.113.7  ", "203.0.113.7", id="chain-with-spaces"),
        pytest.param("2001:db8::1", "2001:db8::1", id="ipv6"),
        pytest.param("203.0.113.7, ", PROXY, id="empty-last-entry-is-the-peer"),
        pytest.param(" ", PROXY, id="blank-is-the-peer"),
        pytest.param("x" * 100, "x" * 64, id="long-value-capped-at-64"),
    ],
)
def test_a_trusted_proxy_names_the_client_in_its_last_entry(forwarded: str, expected: str) -> None:
    assert client_ip(request_from(PROXY, forwarded), TRUSTED) == expected


def test_an_untrusted_peer_cannot_name_another_address() -> None:
    assert client_ip(request_from("198.51.100.9", "203.0.113.7"), TRUSTED) == "198.51.100.9"


def test_a_trusted_proxy_without_the_header_is_the_client() -> None:
    assert client_ip(request_from(PROXY), TRUSTED) == PROXY


def test_with_no_trusted_proxies_the_header_is_ignored() -> None:
    assert client_ip(request_from(PROXY, "203.0.113.7"), frozenset()) == PROXY


def test_a_request_without_a_peer_address_is_unknown() -> None:
    assert client_ip(request_from(None, "203.0.113.7"), TRUSTED) == "unknown"


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        pytest.param("10.244.3.17", "203.0.113.7", id="inside-the-pod-network"),
        pytest.param("10.245.0.1", "10.245.0.1", id="outside-it"),
        pytest.param("2001:db8::5", "203.0.113.7", id="ipv6-network"),
        pytest.param("not-an-address", "not-an-address", id="not-an-address"),
    ],
)
def test_a_trusted_network_covers_every_address_in_it(peer: str, expected: str) -> None:
    # Kubernetes: the edge's pod address changes; the pod network is trusted.
    trusted = frozenset({"10.244.0.0/16", "2001:db8::/64"})
    assert client_ip(request_from(peer, "203.0.113.7"), trusted) == expected
