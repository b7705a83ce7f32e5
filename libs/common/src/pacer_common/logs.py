"""Structured JSON logs for every service.

Our own events go through structlog's native logger straight to stdout, one
JSON line each: the access log writes one per request, so it skips the stdlib
logging machinery (a third of the cost). Records from other libraries
(hypercorn, asyncpg) go through stdlib logging and are rendered the same way.
The request id bound by the request-context middleware rides along in
structlog's contextvars.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, WrappedLogger

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}


def configure_logging(service: str, level: str = "INFO") -> None:
    def add_service(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.setdefault("service", service)
        return event

    def name_logger(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        if "logger_name" in event:
            event["logger"] = event.pop("logger_name")
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
        name_logger,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)


def get_logger(name: str) -> FilteringBoundLogger:
    """A structlog logger that records its module as ``logger``.

    >>> log = get_logger(__name__)
    >>> log.info("user_registered", user_id="...")  # doctest: +SKIP
    """
    # "logger" itself is a reserved argument of get_logger: bind under another
    # key and rename it in the processor chain.
    # Both structlog's default wrapper class and configure_logging's are made by
    # make_filtering_bound_logger; structlog.get_logger itself is typed Any.
    logger: FilteringBoundLogger = structlog.get_logger(logger_name=name)
    return logger
