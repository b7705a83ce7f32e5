"""The proxy's values: what differs between the dev and the production Caddy config.

One template set (``proxy/Caddyfile.j2`` and ``proxy/macros.j2``) renders both
targets; everything a target changes is a field of :class:`ProxyValues`.

>>> text = render_caddyfile(dev_values(http_port=8080, core_api=["127.0.0.1:8001"],
...                                    coach=["127.0.0.1:8002"]))
>>> "default_bind 127.0.0.1" in text
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pacer_common.settings import (
    DEFAULT_MAX_REQUEST_BODY_BYTES,
    MAX_BODY_BYTES,
    MIN_BODY_BYTES,
)
from pacer_devstack.config import REPO_ROOT

TEMPLATE_DIR = REPO_ROOT / "proxy"
TEMPLATE = "Caddyfile.j2"
DEV_STATIC_ROOT = REPO_ROOT / "web"
PROD_STATIC_ROOT = "/srv/web"
# Compose service names and ports (deploy/docker-compose.prod.yml).
PROD_CORE_API = ("core-api", 8001)
PROD_COACH = ("coach", 8002)

Target = Literal["dev", "prod"]
# One Caddyfile token: a plain word, or an environment variable that Caddy
# substitutes when it loads the file (``{$PACER_DOMAIN}``), so that one rendered
# file serves any domain.
_CADDY_WORD = re.compile(r"[^\s{}`\"#]+|\{\$[A-Z_][A-Z0-9_]*(:[^\s{}`\"]*)?\}")


class ProxyValuesError(ValueError):
    pass


@dataclass(frozen=True)
class Upstreams:
    """Where one service's replicas listen: fixed addresses, or a DNS name.

    Fixed addresses get active health checks (Caddy probes ``/health`` on each).
    A DNS name (``dynamic a``) follows ``docker compose --scale`` without a
    re-render, but Caddy runs no active checks on dynamic upstreams: retries
    (each re-reads the name) are all it has there.
    """

    addresses: tuple[str, ...] = ()
    dns_name: str | None = None
    dns_port: int | None = None

    def __post_init__(self) -> None:
        if bool(self.addresses) == (self.dns_name is not None):
            raise ProxyValuesError("give either upstream addresses or a DNS name, not both")
        if self.dns_name is not None and self.dns_port is None:
            raise ProxyValuesError("a DNS upstream needs a port")
        for address in self.addresses:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit() or any(c.isspace() for c in address):
                raise ProxyValuesError(f"upstream must be host:port, got {address!r}")

    @classmethod
    def fixed(cls, addresses: Sequence[str]) -> Upstreams:
        return cls(addresses=tuple(addresses))

    @classmethod
    def dns(cls, name: str, port: int) -> Upstreams:
        return cls(dns_name=name, dns_port=port)


@dataclass(frozen=True)
class ProxyValues:
    target: Target
    site_address: str  # ":8080" (dev) or a domain (prod: automatic HTTPS)
    tls: bool  # automatic HTTPS and HSTS; off in dev
    acme_email: str | None
    core_api: Upstreams
    coach: Upstreams
    static_root: str
    access_log: str  # Caddy `output`: "stdout" or "file /path"
    # The services' MAX_REQUEST_BODY_BYTES: the proxy refuses a bigger body itself.
    max_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_BYTES
    # The active checks take a dead replica out within about health_interval x
    # health_fails (6 s); until then the retries route around it (no passive
    # checks: proxy/macros.j2 says why). A probe of /health every 2 s is nothing.
    health_interval: str = "2s"
    health_timeout: str = "2s"
    health_fails: int = 3
    # No upstream at all must still fail fast: /v1/coach/chat with the coach
    # down answers 502/503 well within 3 s. Four retries: with one of two
    # replicas dead and many requests interleaving, each retry is a coin flip.
    lb_retries: int = 4
    lb_try_duration: str = "2s"
    dns_refresh: str = "5s"

    def __post_init__(self) -> None:
        if self.tls and not self.acme_email:
            raise ProxyValuesError("automatic HTTPS needs an ACME email (--acme-email)")
        for name in ("site_address", "acme_email", "static_root"):
            value = getattr(self, name)
            if value is not None and not _CADDY_WORD.fullmatch(value):
                raise ProxyValuesError(f"{name} must be one plain word or {{$VARIABLE}}: {value!r}")
        if not MIN_BODY_BYTES <= self.max_body_bytes <= MAX_BODY_BYTES:
            raise ProxyValuesError(
                f"max_body_bytes must be {MIN_BODY_BYTES}..{MAX_BODY_BYTES}, "
                f"as MAX_REQUEST_BODY_BYTES: {self.max_body_bytes}"
            )


def dev_values(
    *,
    http_port: int,
    core_api: Sequence[str],
    coach: Sequence[str],
    access_log: Path | None = None,
    static_root: Path = DEV_STATIC_ROOT,
    max_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_BYTES,
) -> ProxyValues:
    """``make run``'s proxy: plain HTTP on loopback. ``access_log`` None logs to stdout."""
    return ProxyValues(
        target="dev",
        site_address=f":{http_port}",
        tls=False,
        acme_email=None,
        core_api=Upstreams.fixed(core_api),
        coach=Upstreams.fixed(coach),
        static_root=str(static_root),
        access_log="stdout" if access_log is None else f"file {access_log}",
        max_body_bytes=max_body_bytes,
    )


def compose_replicas(project: str, service: str, port: int, replicas: int) -> list[str]:
    """The containers `docker compose` names ``<project>-<service>-<n>``; Docker's DNS
    resolves each name, so Caddy can probe each replica on its own."""
    if replicas < 1:
        raise ProxyValuesError(f"{service} needs at least one replica")
    return [f"{project}-{service}-{index}:{port}" for index in range(1, replicas + 1)]


def prod_values(
    *,
    domain: str,
    acme_email: str,
    discovery: Literal["replicas", "dns"] = "replicas",
    compose_project: str = "pacer",
    core_api_replicas: int = 2,
    coach_replicas: int = 2,
    max_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_BYTES,
) -> ProxyValues:
    """The Compose deployment's proxy: ``domain`` with automatic HTTPS.

    ``replicas`` names each container (active health checks; scale up to the
    rendered count, more needs a re-render); ``dns`` follows any ``--scale``.
    """
    if discovery == "dns":
        core_api, coach = Upstreams.dns(*PROD_CORE_API), Upstreams.dns(*PROD_COACH)
    else:
        core_api = Upstreams.fixed(
            compose_replicas(compose_project, *PROD_CORE_API, core_api_replicas)
        )
        coach = Upstreams.fixed(compose_replicas(compose_project, *PROD_COACH, coach_replicas))
    return ProxyValues(
        target="prod",
        site_address=domain,
        tls=True,
        acme_email=acme_email,
        core_api=core_api,
        coach=coach,
        static_root=PROD_STATIC_ROOT,
        # Containers log to stdout; Docker keeps and rotates it.
        access_log="stdout",
        max_body_bytes=max_body_bytes,
    )


def services_body_limit(env: Mapping[str, str]) -> int:
    """The MAX_REQUEST_BODY_BYTES the services will read from this environment
    (an empty value means unset, as in pacer_common.settings)."""
    raw = env.get("MAX_REQUEST_BODY_BYTES") or str(DEFAULT_MAX_REQUEST_BODY_BYTES)
    if not raw.strip().isdigit():
        raise ProxyValuesError(f"MAX_REQUEST_BODY_BYTES must be a number of bytes, got {raw!r}")
    return int(raw)


def render_caddyfile(values: ProxyValues) -> str:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # a Caddyfile, not HTML
    )
    return environment.get_template(TEMPLATE).render(values=values)
