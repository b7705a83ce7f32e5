"""Every tool by name: the spec the model sees, its arguments' model, what it runs.

The JSON Schema offered to the model is generated from the very model that
validates the arguments, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from pacer_coach.tools import reads
from pacer_coach.tools.base import NoArguments, ToolAnswer, ToolContext
from pacer_coach.tools.proposing import propose
from pacer_common.athlete_schemas import ActivityIn, GoalIn, PlanIn
from pacer_common.llm import ToolSpec

Run = Callable[[ToolContext, Any], Awaitable[ToolAnswer]]


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    arguments: type[BaseModel]
    run: Run
    # The athlete's line while it runs ("Looking at your last 28 days…").
    running: Callable[[Any], str]
    proposes: bool = False


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    schema.setdefault("properties", {})
    return schema


def _tool(
    name: str,
    description: str,
    arguments: type[BaseModel],
    run: Run,
    running: Callable[[Any], str],
    *,
    proposes: bool = False,
) -> Tool:
    return Tool(ToolSpec(name, description, _schema(arguments)), arguments, run, running, proposes)


def _days(arguments: reads.DaysArguments) -> str:
    return f"Looking at your {reads.last_days(arguments.days)}…"


_DAYS_NOTE = f"days: 1 to {reads.MAX_DAYS} (default {reads.DEFAULT_DAYS}); at most {reads.MAX_ITEMS} items, newest first."
TOOLS: dict[str, Tool] = {
    tool.spec.name: tool
    for tool in (
        _tool(
            "recent_activities",
            f"The athlete's logged activities (runs, rides...) of the last days. {_DAYS_NOTE}",
            reads.DaysArguments,
            reads.recent_activities,
            _days,
        ),
        _tool(
            "recent_checkins",
            f"The athlete's daily check-ins (sleep, soreness, mood) of the last days. {_DAYS_NOTE}",
            reads.DaysArguments,
            reads.recent_checkins,
            _days,
        ),
        _tool(
            "training_plan",
            "The athlete's current training plan, or null.",
            NoArguments,
            reads.training_plan,
            lambda _: "Looking at your training plan…",
        ),
        _tool(
            "race_goal",
            "The athlete's goal race, or null.",
            NoArguments,
            reads.race_goal,
            lambda _: "Looking at your race goal…",
        ),
        _tool(
            "propose_activity",
            "Propose logging an activity the athlete told you about; they apply or dismiss it. "
            "started_at is ISO 8601 with a time zone; duration_s in seconds; distance_m in metres.",
            ActivityIn,
            propose,
            lambda _: "Preparing an activity to log…",
            proposes=True,
        ),
        _tool(
            "propose_plan",
            "Propose replacing the athlete's training plan; they apply or dismiss it.",
            PlanIn,
            propose,
            lambda _: "Preparing a training plan…",
            proposes=True,
        ),
        _tool(
            "propose_goal",
            "Propose replacing the athlete's race goal; they apply or dismiss it.",
            GoalIn,
            propose,
            lambda _: "Preparing a race goal…",
            proposes=True,
        ),
    )
}
SPECS: tuple[ToolSpec, ...] = tuple(tool.spec for tool in TOOLS.values())
