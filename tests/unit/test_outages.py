"""Which errors count as a dependency being down (a 503), and which stay bugs (a 500)."""

from __future__ import annotations

import errno
import socket

import asyncpg
import pytest
import redis.exceptions

from pacer_common.outages import is_dependency_down

OUTAGES: list[BaseException] = [
    ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
    ConnectionResetError(errno.ECONNRESET, "reset by peer"),
    TimeoutError(),
    socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
    OSError(errno.EHOSTUNREACH, "No route to host"),
    OSError("Multiple exceptions: [Errno 111] Connect call failed, [Errno 99] ..."),
    asyncpg.PostgresConnectionError("connection lost"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
    asyncpg.InterfaceError("pool is closing"),
    redis.exceptions.ConnectionError("Error 111 connecting to localhost:6379."),
    redis.exceptions.TimeoutError("Timeout reading from socket"),
]
BUGS: list[BaseException] = [
    FileNotFoundError(errno.ENOENT, "No such file or directory"),
    PermissionError(errno.EACCES, "Permission denied"),
    OSError(errno.EINVAL, "Invalid argument"),
    asyncpg.exceptions.DataError("invalid input for query argument $1"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
    asyncpg.UniqueViolationError("duplicate key value"),
    redis.exceptions.AuthenticationError("invalid username-password pair"),
    redis.exceptions.ResponseError("WRONGTYPE Operation against a key"),
    KeyError("briefing"),
]


@pytest.mark.parametrize("error", OUTAGES, ids=repr)
def test_an_unreachable_dependency_is_an_outage(error: BaseException) -> None:
    assert is_dependency_down(error)


@pytest.mark.parametrize("error", BUGS, ids=repr)
def test_a_bug_is_not_an_outage(error: BaseException) -> None:
    assert not is_dependency_down(error)
