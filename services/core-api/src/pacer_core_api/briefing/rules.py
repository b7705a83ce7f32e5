"""The deterministic, rule-based briefing: computed from the athlete's data alone.

Home falls back to it whenever no fresh LLM briefing is cached, so it must be
cheap, never fail and never call anything.
"""

from __future__ import annotations

from pacer_core_api.store.summary import AthleteSummary

RECENT_CHECKIN_DAYS = 2
TAPER_DAYS = 14
SHORT_SLEEP_HOURS = 6.0
HIGH_SORENESS = 4
LOW_MOOD = 2


def _km(metres: float) -> str:
    return f"{metres / 1000:.1f} km"


def _readiness(summary: AthleteSummary) -> str:
    checkin = summary.last_checkin
    if checkin is None or (summary.today - checkin.date).days > RECENT_CHECKIN_DAYS:
        return "Log a check-in so that today's advice can follow how you feel."
    if checkin.soreness >= HIGH_SORENESS or checkin.sleep_hours < SHORT_SLEEP_HOURS:
        return (
            f"You reported soreness {checkin.soreness}/5 after {checkin.sleep_hours:g} h of "
            "sleep: make today easy or take a rest day."
        )
    if checkin.mood <= LOW_MOOD:
        return "Your mood is low: keep today's session short and relaxed."
    return (
        f"You look recovered ({checkin.sleep_hours:g} h of sleep, soreness "
        f"{checkin.soreness}/5): a good day for the key session of your week."
    )


def _week(summary: AthleteSummary) -> str:
    done = f"{summary.week_sessions} session{'s' if summary.week_sessions != 1 else ''}"
    distance = _km(summary.week_distance_m)
    plan = summary.plan
    if plan is None:
        return f"This week so far: {done}, {distance}."
    target = f" of {_km(plan.weekly_distance_m)}" if plan.weekly_distance_m else ""
    return f"This week so far: {done} of {plan.sessions_per_week} planned, {distance}{target}."


def _race(summary: AthleteSummary) -> str | None:
    race = summary.next_race
    if race is None:
        return None
    if race.days_to_race == 0:
        return f"Race day: {race.name}. Trust your training."
    if race.days_to_race <= TAPER_DAYS:
        days = f"{race.days_to_race} day{'s' if race.days_to_race != 1 else ''}"
        return f"{race.name} is in {days}: taper, keep some intensity, cut volume."
    return f"{race.days_to_race} days to {race.name}."


def rule_based_text(summary: AthleteSummary) -> str:
    parts = [_readiness(summary), _week(summary), _race(summary)]
    return " ".join(part for part in parts if part)
