"""The ``before`` cursor of ``GET /v1/activities``: a keyset of (``started_at``, ``id``).

Activities are listed newest first by ``started_at``, and two of them may start at the
same instant (a watch and a manual entry, a bulk import). A cursor of ``started_at``
alone cannot say where inside such a run a page ended, so the next page skipped the
rest of the run. The cursor the list now gives, ``next_before``, also carries the last
row's id, the tie-break of the order, so each row is listed exactly once::

    page = GET /v1/activities?limit=10          -> {"items": [...], "next_before": "MjAy..."}
    next = GET /v1/activities?limit=10&before=MjAy...

It is opaque to clients (base64url of ``<started_at>|<id>``) so that its form can change.
A plain RFC 3339 time is still accepted as before, meaning "started strictly earlier".
Anything else is a ``ValueError``, which the query's validation turns into a 422.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from pydantic import PlainValidator, TypeAdapter, ValidationError

from pacer_common.athlete_schemas import Instant

# A cursor this API gives is about 90 characters; far longer is not one of ours.
MAX_CURSOR_CHARS = 200
_INSTANT: TypeAdapter[dt.datetime] = TypeAdapter(Instant)
_NOT_A_CURSOR = "must be a next_before this API gave, or an RFC 3339 time with an offset"


@dataclass(frozen=True, slots=True)
class ActivityCursor:
    """Rows before (``started_at``, ``id``) in the list's order; with no ``id``, rows
    that started strictly before ``started_at`` (a plain time sent by a client)."""

    started_at: dt.datetime
    id: UUID | None = None


def encode(activity: dict[str, Any]) -> str:
    """The cursor just after ``activity`` (a listed row, as JSON-ready values)."""
    raw = f"{activity['started_at']}|{activity['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _instant(text: str) -> dt.datetime:
    try:
        return _INSTANT.validate_strings(text, strict=True)
    except ValidationError:
        raise ValueError(_NOT_A_CURSOR) from None


def _decoded(text: str) -> str:
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(_NOT_A_CURSOR) from None


def parse(value: object) -> ActivityCursor:
    """The ``before`` query value as a cursor, or a ``ValueError`` (a 422)."""
    if not isinstance(value, str) or not value or len(value) > MAX_CURSOR_CHARS:
        raise ValueError(_NOT_A_CURSOR)
    # A time's ":" and "+" are not in base64url's alphabet: the two forms cannot be confused.
    if ":" in value:
        return ActivityCursor(_instant(value))
    started_at, separator, activity_id = _decoded(value).partition("|")
    if not separator:
        raise ValueError(_NOT_A_CURSOR)
    try:
        return ActivityCursor(_instant(started_at), UUID(activity_id))
    except ValueError:
        raise ValueError(_NOT_A_CURSOR) from None


Before = Annotated[ActivityCursor, PlainValidator(parse)]
