"""The default mode's one tool call: a run the athlete mentions becomes ``propose_activity``.

"I ran 10k this morning in 52 minutes" → ``{"sport": "run", "started_at": <52
minutes before now, to the minute>, "duration_s": 3120, "distance_m": 10000.0}``,
so that ``make run`` shows a proposal card with no mode set. Deterministic: the
same sentence at the same minute gives the same arguments; a message with no
verb of running or no duration gives None (the ordinary text answer).
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


def proposed_activity(text: str, now: dt.datetime) -> dict[str, Any] | None:
    """``propose_activity``'s arguments for the run ``text`` mentions, or None."""
    if _RAN.search(text) is None:
        return None
    duration = _duration_s(text)
    if duration is None:
        return None
    ended = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
    if re.search(r"\byesterday\b", text, re.IGNORECASE):
        ended -= dt.timedelta(days=1)
    arguments: dict[str, Any] = {
        "sport": "run",
        "started_at": (ended - dt.timedelta(seconds=duration)).isoformat(),
        "duration_s": duration,
    }
    distance = _distance_m(text)
    if distance is not None:
        arguments["distance_m"] = distance
    return arguments
