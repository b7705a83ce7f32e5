"""core-api's rule-based briefing: the text home shows when no LLM briefing is cached."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from pacer_core_api.briefing.rules import rule_based_text
from pacer_core_api.store.summary import AthleteSummary, LastCheckin, Plan, Race

TODAY = dt.date(2026, 3, 11)  # a Wednesday
NO_CHECKIN = "Log a check-in so that today's advice can follow how you feel."


def summary(**changes: Any) -> AthleteSummary:
    base = AthleteSummary(
        today=TODAY,
        week_start=dt.date(2026, 3, 9),
        week_distance_m=0.0,
        week_duration_s=0,
        week_sessions=0,
        last_checkin=None,
        next_race=None,
        plan=None,
    )
    return dataclasses.replace(base, **changes)


def checkin(days_ago: int = 0, sleep: float = 8.0, soreness: int = 1, mood: int = 4) -> LastCheckin:
    return LastCheckin(TODAY - dt.timedelta(days=days_ago), sleep, soreness, mood)


def race(days: int, name: str = "City 10K") -> Race:
    return Race(name, TODAY + dt.timedelta(days=days), 10_000.0, None, days)


def test_a_new_athlete_is_asked_for_a_check_in() -> None:
    assert rule_based_text(summary()) == f"{NO_CHECKIN} This week so far: 0 sessions, 0.0 km."


@pytest.mark.parametrize(
    ("days_ago", "fresh"), [(0, True), (2, True), (3, False)], ids=["today", "2-days", "3-days"]
)
def test_a_check_in_counts_for_two_days(days_ago: int, fresh: bool) -> None:
    text = rule_based_text(summary(last_checkin=checkin(days_ago=days_ago)))
    assert text.startswith("You look recovered") is fresh
    assert text.startswith(NO_CHECKIN) is not fresh


@pytest.mark.parametrize(
    ("sleep", "soreness", "mood", "expected"),
    [
        pytest.param(
            5.5,
            1,
            4,
            "You reported soreness 1/5 after 5.5 h of sleep: make today easy or take a rest day.",
            id="short-sleep",
        ),
        pytest.param(
            8,
            4,
            4,
            "You reported soreness 4/5 after 8 h of sleep: make today easy or take a rest day.",
            id="sore-at-the-threshold",
        ),
        pytest.param(
            6,
            3,
            4,
            "You look recovered (6 h of sleep, soreness 3/5): a good day for the key session of your week.",
            id="six-hours-is-enough",
        ),
        pytest.param(
            7.5, 2, 2, "Your mood is low: keep today's session short and relaxed.", id="low-mood"
        ),
        pytest.param(
            5,
            5,
            1,
            "You reported soreness 5/5 after 5 h of sleep: make today easy or take a rest day.",
            id="tiredness-beats-mood",
        ),
    ],
)
def test_readiness_follows_the_latest_check_in(
    sleep: float, soreness: int, mood: int, expected: str
) -> None:
    text = rule_based_text(summary(last_checkin=checkin(sleep=sleep, soreness=soreness, mood=mood)))
    assert text.startswith(expected + " This week so far:")


def test_the_week_counts_sessions_against_the_plan() -> None:
    one = summary(week_sessions=1, week_distance_m=5_250.0)
    assert rule_based_text(one).endswith("This week so far: 1 session, 5.2 km.")
    planned = summary(week_sessions=3, week_distance_m=21_000.0, plan=Plan("Base", 4, 40_000.0))
    assert rule_based_text(planned).endswith(
        "This week so far: 3 sessions of 4 planned, 21.0 km of 40.0 km."
    )
    no_distance_target = summary(week_sessions=2, plan=Plan("Base", 5, None))
    assert rule_based_text(no_distance_target).endswith(
        "This week so far: 2 sessions of 5 planned, 0.0 km."
    )


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0, "Race day: City 10K. Trust your training."),
        (1, "City 10K is in 1 day: taper, keep some intensity, cut volume."),
        (14, "City 10K is in 14 days: taper, keep some intensity, cut volume."),
        (15, "15 days to City 10K."),
    ],
    ids=["race-day", "tomorrow", "taper-starts", "before-the-taper"],
)
def test_the_next_race_ends_the_briefing(days: int, expected: str) -> None:
    text = rule_based_text(summary(next_race=race(days)))
    assert text == f"{NO_CHECKIN} This week so far: 0 sessions, 0.0 km. {expected}"


def test_the_text_depends_on_nothing_but_the_summary() -> None:
    full = summary(
        last_checkin=checkin(), week_sessions=2, week_distance_m=12_000.0, next_race=race(30)
    )
    assert rule_based_text(full) == rule_based_text(full)
    assert rule_based_text(full) == (
        "You look recovered (8 h of sleep, soreness 1/5): a good day for the key session of "
        "your week. This week so far: 2 sessions, 12.0 km. 30 days to City 10K."
    )
