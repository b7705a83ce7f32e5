"""The default mode's one tool call: a run the athlete mentions becomes ``propose_activity``.

"I ran 10k this morning in 52 minutes" → ``{"sport": "run", "started_at": <07:00
UTC today>, "duration_s": 3120, "distance_m": 10000.0}``, so that ``make run``
shows a proposal card with no mode set. Deterministic: the same sentence at the
same minute gives the same arguments; a message with no verb of running or no
duration gives None (the ordinary text answer).

When the run was: a run with no time of day ended now ("ran 10k in 52 minutes"
starts 52 minutes ago), "yesterday" a day earlier. "Morning" ("this morning",
"yesterday morning") starts it at 07:00 UTC of that day, a typical morning run's
start, rather than now minus the duration, which said "this morning" of a run
told of in the evening started at, say, 20:13. UTC because the simulator knows no
athlete's time zone. If a run from 07:00 would not have ended by now (told at
07:30 of a 52-minute run, or before dawn), it ended now instead: a proposal
never logs a run that is still going on or yet to come.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

TOOL = "propose_activity"
_RAN = re.compile(r"\b(ran|run|running|jogged|jog)\b", re.IGNORECASE)
_DISTANCE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(km|k|kilometers?|kilometres?|mi|miles?)\b", re.IGNORECASE
)
_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})(?::(\d{2}))?\b")
_HOURS = re.compile(r"(\d+(?:\.\d+)?)\s*(?:h|hrs?|hours?)\b", re.IGNORECASE)
_MINUTES = re.compile(r"(\d+)\s*(?:m|mins?|minutes?)\b", re.IGNORECASE)
_METRES_PER_MILE = 1609.344
_YESTERDAY = re.compile(r"\byesterday\b", re.IGNORECASE)
_MORNING = re.compile(r"\bmorning\b", re.IGNORECASE)
# When a morning run starts, in UTC (see the module's docstring).
MORNING_START = dt.time(7, 0)


def _distance_m(text: str) -> float | None:
    match = _DISTANCE.search(text)
    if match is None:
        return None
    value = float(match[1])
    metres = value * (_METRES_PER_MILE if match[2].lower().startswith("mi") else 1000.0)
    return round(metres, 1)


def _duration_s(text: str) -> int | None:
    """ "52 minutes", "1 hour 5 minutes", "1:05:30" or "48:30" (minutes:seconds)."""
    clock = _CLOCK.search(text)
    if clock is not None:
        if clock[3] is not None:
            return int(clock[1]) * 3600 + int(clock[2]) * 60 + int(clock[3])
        return int(clock[1]) * 60 + int(clock[2])
    hours = _HOURS.search(text)
    minutes = _MINUTES.search(text)
    total = (float(hours[1]) * 3600 if hours else 0) + (int(minutes[1]) * 60 if minutes else 0)
    return round(total) if total > 0 else None


def _started(text: str, now: dt.datetime, duration: dt.timedelta) -> dt.datetime:
    """The run's start, to the minute: see the module's docstring for when."""
    now = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
    days_ago = dt.timedelta(days=1 if _YESTERDAY.search(text) else 0)
    if _MORNING.search(text) is None:
        return now - days_ago - duration
    morning = dt.datetime.combine(now.date() - days_ago, MORNING_START, dt.UTC)
    return min(morning, now - duration)


def proposed_activity(text: str, now: dt.datetime) -> dict[str, Any] | None:
    """``propose_activity``'s arguments for the run ``text`` mentions, or None."""
    if _RAN.search(text) is None:
        return None
    duration = _duration_s(text)
    if duration is None:
        return None
    arguments: dict[str, Any] = {
        "sport": "run",
        "started_at": _started(text, now, dt.timedelta(seconds=duration)).isoformat(),
        "duration_s": duration,
    }
    distance = _distance_m(text)
    if distance is not None:
        arguments["distance_m"] = distance
    return arguments
