"""The read tools: the athlete's own recent data, bounded.

Each reads only the calling athlete's rows (the reply's user id, never an
argument), through the same SQL as core-api's routes
(:mod:`pacer_common.tables.athlete_data`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pacer_coach.tools.base import NoArguments, ToolAnswer, ToolContext
from pacer_common.tables import athlete_data

# How far back a read may look, and how many rows it returns at most (newest
# first): a model asking for a year of data gets a bounded answer, not a huge prompt.
MAX_DAYS = 90
MAX_ITEMS = 50
DEFAULT_DAYS = 28


class DaysArguments(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    days: int = Field(default=DEFAULT_DAYS, ge=1, le=MAX_DAYS)


def last_days(days: int) -> str:
    """The span in the athlete's words: ``last_days(1) == "last day"``, else "last 7 days"."""
    return "last day" if days == 1 else f"last {days} days"


def _found(count: int, one: str, many: str, days: int) -> str:
    """A read's line: "1 activity in the last 7 days", "3 check-ins in the last day"."""
    return f"{count} {one if count == 1 else many} in the {last_days(days)}"


async def recent_activities(context: ToolContext, arguments: DaysArguments) -> ToolAnswer:
    async with context.pool.acquire() as conn:
        items = await athlete_data.activities_since(
            conn, context.user_id, arguments.days, MAX_ITEMS
        )
    return ToolAnswer(
        {"days": arguments.days, "activities": items, "truncated": len(items) == MAX_ITEMS},
        _found(len(items), "activity", "activities", arguments.days),
    )


async def recent_checkins(context: ToolContext, arguments: DaysArguments) -> ToolAnswer:
    async with context.pool.acquire() as conn:
        items = await athlete_data.checkins_since(conn, context.user_id, arguments.days, MAX_ITEMS)
    return ToolAnswer(
        {"days": arguments.days, "checkins": items, "truncated": len(items) == MAX_ITEMS},
        _found(len(items), "check-in", "check-ins", arguments.days),
    )


async def training_plan(context: ToolContext, _: NoArguments) -> ToolAnswer:
    async with context.pool.acquire() as conn:
        plan = await athlete_data.get_plan(conn, context.user_id)
    summary = "no plan yet" if plan is None else f"plan: {plan['name']}"
    return ToolAnswer({"plan": plan}, summary)


async def race_goal(context: ToolContext, _: NoArguments) -> ToolAnswer:
    async with context.pool.acquire() as conn:
        goal = await athlete_data.get_goal(conn, context.user_id)
    summary = "no goal yet" if goal is None else f"goal: {goal['race_name']}"
    return ToolAnswer({"goal": goal}, summary)
