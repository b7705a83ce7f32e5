"""pacer_common.web.keyset_cursor without a server: a cursor parses back to the row it was
made from, a plain time keeps its own bounds per list, and anything else is a ValueError."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

import pytest
from pydantic import AfterValidator, AwareDatetime, TypeAdapter

from pacer_common.athlete_schemas import Instant
from pacer_common.validation import in_utc
from pacer_common.web.keyset_cursor import KeysetCursor, encode, encoder, parse

ANY_INSTANT: TypeAdapter[dt.datetime] = TypeAdapter(
    Annotated[AwareDatetime, AfterValidator(in_utc)]
)
PLAUSIBLE: TypeAdapter[dt.datetime] = TypeAdapter(Instant)
ROW = {
    "id": "0b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3",
    "created_at": "2026-03-01T06:30:00.123456+00:00",
}


def test_a_cursor_parses_back_to_its_rows_time_and_id() -> None:
    cursor = encode(ROW, "created_at")
    assert ":" not in cursor and "=" not in cursor
    assert encoder("created_at")(ROW) == cursor
    assert parse(cursor, ANY_INSTANT) == KeysetCursor(
        dt.datetime(2026, 3, 1, 6, 30, 0, 123456, tzinfo=dt.UTC), UUID(ROW["id"])
    )


def test_a_plain_time_has_no_id_and_is_read_in_utc() -> None:
    parsed = parse("2026-03-01T08:30:00+02:00", ANY_INSTANT)
    assert parsed == KeysetCursor(dt.datetime(2026, 3, 1, 6, 30, tzinfo=dt.UTC))
    assert parsed.at.tzinfo == dt.UTC


def test_each_list_keeps_the_bounds_its_plain_time_had() -> None:
    far = "9999-12-31T23:59:59.999999+00:00"
    assert parse(far, ANY_INSTANT).at.year == 9999
    with pytest.raises(ValueError):
        parse(far, PLAUSIBLE)


@pytest.mark.parametrize(
    "value", ["", "!!!!", "====", "aGVsbG8", "2026-03-01T06:30:00", "x" * 201, None, 12]
)
def test_anything_else_is_a_value_error(value: object) -> None:
    with pytest.raises(ValueError):
        parse(value, ANY_INSTANT)
