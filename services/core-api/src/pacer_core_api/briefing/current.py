"""The one function home reads its briefing through.

Today it returns the rule-based briefing. The briefing-worker issue changes it
to look in Redis first (fresh / stale LLM briefings) and fall back to this.
It never calls an LLM, now or later.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pacer_core_api.briefing.rules import rule_based_text
from pacer_core_api.store.summary import AthleteSummary

BriefingStatus = Literal["fresh", "stale", "pending", "unavailable"]


async def current_briefing(summary: AthleteSummary, now: dt.datetime) -> dict[str, Any]:
    # "unavailable": no LLM briefing exists and none is queued (no worker yet).
    status: BriefingStatus = "unavailable"
    return {
        "status": status,
        "text": rule_based_text(summary),
        "generated_at": now.isoformat(),
        "source": "rules",
    }
