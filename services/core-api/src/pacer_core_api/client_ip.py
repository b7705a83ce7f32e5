"""The client's address, trusting X-Forwarded-For only from the proxy."""

from __future__ import annotations

from starlette.requests import Request


def client_ip(request: Request, trusted_proxies: frozenset[str]) -> str:
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted_proxies:
        return peer
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded:
        return peer
    # The proxy appends the address it saw: the last entry is the one to trust.
    return forwarded.split(",")[-1].strip()[:64] or peer
