"""What every signed-in handler of core-api and the coach does first, written once.

A handler checks the bearer token (:func:`pacer_common.auth.require_user`, no database), then
takes a connection and checks on it that the account still exists (``require_account``: a token
outlives a deleted account by up to its TTL). :func:`account_connection` is those two steps
around a connection; :func:`paged_list` is a whole ``GET`` of the caller's items, newest first,
paged by ``limit`` and ``before`` (check-ins, activities, conversations, coaching sessions).

Both services' lifespans keep their database pool under ``state["pool"]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, cast
from uuid import UUID

import asyncpg
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from pacer_common.auth import Principal, require_account, require_user
from pacer_common.web.json_body import parse_query


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.scope["state"]["pool"]
    return pool


@contextlib.asynccontextmanager
async def account_connection(
    request: Request, principal: Principal
) -> AsyncIterator[asyncpg.Connection]:
    """A connection from the service's pool, once the principal's account is known to exist
    (else 401, as on every route, before any 404 could tell what exists)."""
    async with _pool(request).acquire() as conn:
        await require_account(conn, principal)
        yield conn


class PageQuery(Protocol):
    limit: int
    before: Any


class ListItems(Protocol):
    def __call__(
        self, conn: asyncpg.Connection, user_id: UUID, *, limit: int, before: Any
    ) -> Awaitable[list[dict[str, Any]]]: ...


def paged_list(
    query_type: type[BaseModel],
    items: ListItems,
    cursor: Callable[[dict[str, Any]], str] | None = None,
) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The handler of ``GET <the caller's items>?limit=&before=``: ``{"items": [...]}``.

    ``query_type`` validates the query string (its ``limit`` bounds and ``before`` type differ
    per list); ``items`` reads one page of the caller's own rows. With ``cursor`` (the
    ``before`` that resumes after an item), the body also has ``next_before``: the next
    page's ``before``, or null when this page is the last (shorter than ``limit``).
    """

    async def handler(request: Request) -> JSONResponse:
        principal = require_user(request)
        query = cast(PageQuery, parse_query(request, query_type))
        async with account_connection(request, principal) as conn:
            found = await items(conn, principal.user_id, limit=query.limit, before=query.before)
        if cursor is None:
            return JSONResponse({"items": found})
        more = len(found) == query.limit
        return JSONResponse({"items": found, "next_before": cursor(found[-1]) if more else None})

    # The route's name, as a handler written out would have had.
    handler.__name__ = handler.__qualname__ = getattr(items, "__name__", "paged_list")
    return handler
