"""The ``before`` cursor of a list paged newest first: a keyset of (a time, ``id``).

A list ordered by a time alone (an activity's ``started_at``, a session's
``created_at``, a conversation's ``updated_at``) can hold rows with the same time (a
watch and a manual entry, a bulk import, two writes in one transaction). A cursor of
the time alone cannot say where inside such a run a page ended, so the next page
skipped the rest of the run. The cursor a list gives, ``next_before``, also carries the
last row's id, the tie-break of the order, so each row is listed exactly once::

    page = GET /v1/activities?limit=10          -> {"items": [...], "next_before": "MjAy..."}
    next = GET /v1/activities?limit=10&before=MjAy...

It is opaque to clients (base64url of ``<time>|<id>``) so that its form can change.
A plain RFC 3339 time is still accepted as before, meaning "strictly earlier".
Anything else is a ``ValueError``, which the query's validation turns into a 422.

Each list names its time field (:func:`encoder`) and the type its plain times had
(:func:`validator`), so that what each one accepted before it still accepts::

    Before = Annotated[KeysetCursor, validator(Instant)]   # the query's ``before: Before | None``
    paged_list(Query, items, encoder("started_at"))
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import PlainValidator, TypeAdapter, ValidationError

# A cursor a list gives is about 90 characters; far longer is not one of ours.
MAX_CURSOR_CHARS = 200
_NOT_A_CURSOR = "must be a next_before this API gave, or an RFC 3339 time with an offset"


@dataclass(frozen=True, slots=True)
class KeysetCursor:
    """Rows before (``at``, ``id``) in the list's order; with no ``id``, rows whose
    time is strictly before ``at`` (a plain time sent by a client)."""

    at: dt.datetime
    id: UUID | None = None


def encode(row: dict[str, Any], key: str) -> str:
    """The cursor just after ``row`` (a listed row, as JSON-ready values), ordered by ``key``."""
    raw = f"{row[key]}|{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def encoder(key: str) -> Callable[[dict[str, Any]], str]:
    """:func:`encode` for a list ordered by ``key``, as :func:`paged_list` takes it."""
    return lambda row: encode(row, key)


def _instant(instant: TypeAdapter[dt.datetime], text: str) -> dt.datetime:
    try:
        return instant.validate_strings(text, strict=True)
    except ValidationError:
        raise ValueError(_NOT_A_CURSOR) from None


def _decoded(text: str) -> str:
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(_NOT_A_CURSOR) from None


def parse(value: object, instant: TypeAdapter[dt.datetime]) -> KeysetCursor:
    """The ``before`` query value as a cursor, or a ``ValueError`` (a 422); ``instant``
    validates its time, whether sent plain or inside a cursor."""
    if not isinstance(value, str) or not value or len(value) > MAX_CURSOR_CHARS:
        raise ValueError(_NOT_A_CURSOR)
    # A time's ":" and "+" are not in base64url's alphabet: the two forms cannot be confused.
    if ":" in value:
        return KeysetCursor(_instant(instant, value))
    at, separator, row_id = _decoded(value).partition("|")
    if not separator:
        raise ValueError(_NOT_A_CURSOR)
    try:
        return KeysetCursor(_instant(instant, at), UUID(row_id))
    except ValueError:
        raise ValueError(_NOT_A_CURSOR) from None


def validator(instant: Any) -> PlainValidator:
    """The ``before`` field's validator: a :class:`KeysetCursor` whose time is an
    ``instant`` (the annotated datetime type the list's plain ``before`` had)."""
    adapter: TypeAdapter[dt.datetime] = TypeAdapter(instant)
    return PlainValidator(lambda value: parse(value, adapter))
