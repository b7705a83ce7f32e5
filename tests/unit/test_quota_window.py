"""The coach's monthly chat quota counts per UTC calendar month."""

from __future__ import annotations

import datetime as dt

import pytest

from pacer_coach.store.quota import QuotaUse, month_window

UTC = dt.UTC
NEW_YORK = dt.timezone(dt.timedelta(hours=-5))
TOKYO = dt.timezone(dt.timedelta(hours=9))


@pytest.mark.parametrize(
    ("now", "month", "resets_at"),
    [
        pytest.param(
            dt.datetime(2026, 3, 15, 12, 0, tzinfo=UTC),
            dt.date(2026, 3, 1),
            dt.datetime(2026, 4, 1, tzinfo=UTC),
            id="mid-month",
        ),
        pytest.param(
            dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
            dt.date(2026, 12, 1),
            dt.datetime(2027, 1, 1, tzinfo=UTC),
            id="december-rolls-into-next-year",
        ),
        pytest.param(
            dt.datetime(2027, 1, 1, 0, 0, tzinfo=UTC),
            dt.date(2027, 1, 1),
            dt.datetime(2027, 2, 1, tzinfo=UTC),
            id="first-instant-of-a-month-belongs-to-it",
        ),
        pytest.param(
            dt.datetime(2026, 1, 31, 18, 0, tzinfo=UTC),
            dt.date(2026, 1, 1),
            dt.datetime(2026, 2, 1, tzinfo=UTC),
            id="31-day-month",
        ),
        pytest.param(
            dt.datetime(2028, 2, 29, 9, 0, tzinfo=UTC),
            dt.date(2028, 2, 1),
            dt.datetime(2028, 3, 1, tzinfo=UTC),
            id="leap-day",
        ),
        pytest.param(
            dt.datetime(2026, 12, 31, 20, 0, tzinfo=NEW_YORK),
            dt.date(2027, 1, 1),
            dt.datetime(2027, 2, 1, tzinfo=UTC),
            id="new-years-eve-in-new-york-is-january-in-utc",
        ),
        pytest.param(
            dt.datetime(2027, 1, 1, 8, 0, tzinfo=TOKYO),
            dt.date(2026, 12, 1),
            dt.datetime(2027, 1, 1, tzinfo=UTC),
            id="new-years-morning-in-tokyo-is-december-in-utc",
        ),
    ],
)
def test_month_window_is_the_utc_calendar_month(
    now: dt.datetime, month: dt.date, resets_at: dt.datetime
) -> None:
    assert month_window(now) == (month, resets_at)


def test_the_reset_is_an_aware_utc_instant() -> None:
    _, resets_at = month_window(dt.datetime(2026, 6, 30, 23, 0, tzinfo=TOKYO))
    assert resets_at.utcoffset() == dt.timedelta(0)
    assert resets_at.isoformat() == "2026-07-01T00:00:00+00:00"


def test_remaining_never_goes_below_zero() -> None:
    resets_at = dt.datetime(2027, 1, 1, tzinfo=UTC)
    assert QuotaUse(True, 3, 10, resets_at).remaining == 7
    assert QuotaUse(False, 10, 10, resets_at).remaining == 0
    # A limit lowered below what was already used this month.
    assert QuotaUse(False, 12, 5, resets_at).remaining == 0
