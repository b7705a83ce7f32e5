"""Which exceptions mean "a dependency is unreachable right now", not "our code is wrong".

One answer for the whole codebase: the error handlers turn these into a 503
``unavailable`` with ``Retry-After`` (never a 500), and code that fails open on
purpose (a save whose briefing refresh cannot be queued) catches exactly these.

- Postgres: no connection (class 08, including a connection lost in the middle
  of a query), shutting down or starting up (class 57), out of connection
  slots; and the driver's own "connection is closed" / "pool is closing". Every
  other ``InterfaceError`` (a query given bad arguments, "another operation is
  in progress") is a bug.
- The network: refused, reset or unreachable connections, name lookups, and
  timeouts (the pool's connect, asyncpg's ``command_timeout``); asyncpg raises a
  bare ``OSError("Multiple exceptions: ...")`` when every address of a host
  refused. Any other ``OSError`` (a missing file) is a bug.
- Redis, for the services that have a client: its connection and timeout
  errors, but not a wrong password (``AuthenticationError`` is a subclass of
  its ``ConnectionError``, and a misconfiguration is not an outage).
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import asyncpg
from structlog.typing import FilteringBoundLogger

# The classes to catch (or to register a handler for); ``is_dependency_down``
# then decides for the broad ones.
OUTAGE_CLASSES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    OSError,  # ConnectionError, TimeoutError and socket.gaierror among them
)
_NOT_OUTAGES: tuple[type[BaseException], ...] = ()
try:
    import redis.exceptions as _redis

    OUTAGE_CLASSES += (_redis.ConnectionError, _redis.TimeoutError)
    _NOT_OUTAGES += (_redis.AuthenticationError, _redis.AuthorizationError)
except ImportError:  # a service installed without the jobs extra has no Redis client
    pass

_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EPIPE,
    }
)


def is_dependency_down(error: BaseException) -> bool:
    if isinstance(error, _NOT_OUTAGES):
        return False
    if isinstance(error, asyncpg.InterfaceError):
        # Only the driver's words for a connection or pool that is gone.
        text = str(error)
        return isinstance(error, asyncpg.exceptions.ConnectionDoesNotExistError) or (
            "connection is closed" in text or "pool is closing" in text
        )
    if isinstance(error, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(error, OSError):
        return error.errno in _NETWORK_ERRNOS or str(error).startswith("Multiple exceptions")
    return isinstance(error, OUTAGE_CLASSES)


def warn_failed_open(
    log: FilteringBoundLogger, event: str, error: BaseException, **fields: Any
) -> None:
    """Log a failure that code fails open on: an outage as one line (no traceback: a
    Redis that is away would otherwise print one on every home view, and rendering
    it costs the request more than the outage does), anything else with its traceback."""
    if is_dependency_down(error):
        log.warning(event, error=f"{type(error).__name__}: {error}", **fields)
    else:
        log.warning(event, exc_info=error, **fields)
