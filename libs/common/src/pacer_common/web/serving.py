"""The hypercorn ``Config`` every Pacer web service starts from, and HTTP/1.1 only.

config = hypercorn_config(host="127.0.0.1", port=8002, backlog=2048, graceful_timeout_s=2.0)
config.worker_class = "uvloop"  # then what only this service needs

Every service sits behind Caddy, which speaks HTTP/1.1 to it; no Pacer route
needs a protocol upgrade. hypercorn, though, answers ``Upgrade: h2c`` with
``101 Switching Protocols`` and a request starting ``PRI * HTTP/2.0`` by
switching to HTTP/2, and has no setting to stop either. Through the proxy,
such a tunnel makes Caddy the peer of every request inside it: core-api would
believe any ``X-Forwarded-For`` in it, and Caddy would neither log those
requests nor add its security headers. :class:`Http11Only` is hypercorn's
HTTP/1.1 protocol without the two switches: an ``Upgrade`` header is ignored
(RFC 9110 lets a server do so) and ``PRI *`` is an ordinary request, which no
route serves. Caddy strips ``Upgrade`` too (proxy/Caddyfile.j2): this is the
second line.
"""

from __future__ import annotations

import logging

import hypercorn.protocol
from hypercorn.config import Config
from hypercorn.protocol.h11 import H11Protocol


class Http11Only(H11Protocol):
    # `object`, not h11.Request: wider is a valid override, and h11 stays hypercorn's own.
    async def _check_protocol(self, event: object) -> None:
        """hypercorn's own switches to HTTP/2 here (h2c upgrade or prior knowledge); never do."""


def serve_http11_only() -> None:
    """Make every connection hypercorn opens in this process use :class:`Http11Only`.

    hypercorn builds its HTTP/1.1 protocol by this module-level name
    (``hypercorn.protocol.ProtocolWrapper``) and offers no setting or hook for it.
    Idempotent; run when this module is imported (see :class:`PacerConfig`).
    """
    setattr(hypercorn.protocol, "H11Protocol", Http11Only)  # noqa: B010 (not re-exported: no typed name)


class PacerConfig(Config):
    """hypercorn's Config, defined here so that a worker process hypercorn spawns
    (``workers`` > 1 pickles the config) imports this module, and with it
    :func:`serve_http11_only`, before it serves a byte."""


serve_http11_only()


def hypercorn_config(*, host: str, port: int, backlog: int, graceful_timeout_s: float) -> Config:
    config = PacerConfig()
    config.bind = [f"{host}:{port}"]
    config.backlog = backlog
    # After the shutdown trigger, how long open connections may run before they are cut.
    config.graceful_timeout = graceful_timeout_s
    # The request-context middleware writes a JSON access log with the request id.
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config
