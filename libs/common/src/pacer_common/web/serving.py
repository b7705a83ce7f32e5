"""The hypercorn ``Config`` every Pacer web service starts from.

config = hypercorn_config(host="127.0.0.1", port=8002, backlog=2048, graceful_timeout_s=2.0)
config.worker_class = "uvloop"  # then what only this service needs
"""

from __future__ import annotations

import logging

from hypercorn.config import Config


def hypercorn_config(*, host: str, port: int, backlog: int, graceful_timeout_s: float) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.backlog = backlog
    # After the shutdown trigger, how long open connections may run before they are cut.
    config.graceful_timeout = graceful_timeout_s
    # The request-context middleware writes a JSON access log with the request id.
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config
