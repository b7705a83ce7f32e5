"""The coach's monthly chat quota counts per UTC calendar month."""

from __future__ import annotations

import datetime as dt

import pytest

from pacer_coach.store.quota import QuotaUse, month_window

UTC = dt.UTC
TOKYO = dt.timezone(dt.timedelta(hours=9))


# (now, the month counted, when it resets): ISO 8601, so each case reads as one line.
CASES = {
    "mid-month": ("2026-03-15T12:00:00+00:00", "2026-03-01", "2026-04-01T00:00:00+00:00"),
    "december-rolls-into-next-year": (
        "2026-12-31T23:59:59+00:00",
        "2026-12-01",
        "2027-01-01T00:00:00+00:00",
    ),
    "first-instant-belongs-to-the-month": (
        "2027-01-01T00:00:00+00:00",
        "2027-01-01",
        "2027-02-01T00:00:00+00:00",
    ),
    "31-day-month": ("2026-01-31T18:00:00+00:00", "2026-01-01", "2026-02-01T00:00:00+00:00"),
    "leap-day": ("2028-02-29T09:00:00+00:00", "2028-02-01", "2028-03-01T00:00:00+00:00"),
    # The athlete's own offset does not matter: the month is the UTC one.
    "new-years-eve-in-new-york-is-january": (
        "2026-12-31T20:00:00-05:00",
        "2027-01-01",
        "2027-02-01T00:00:00+00:00",
    ),
    "new-years-morning-in-tokyo-is-december": (
        "2027-01-01T08:00:00+09:00",
        "2026-12-01",
        "2027-01-01T00:00:00+00:00",
    ),
}


@pytest.mark.parametrize(("now", "month", "resets_at"), CASES.values(), ids=CASES.keys())
def test_month_window_is_the_utc_calendar_month(now: str, month: str, resets_at: str) -> None:
    assert month_window(dt.datetime.fromisoformat(now)) == (
        dt.date.fromisoformat(month),
        dt.datetime.fromisoformat(resets_at),
    )


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
