"""The proposal tools: a change the athlete applies or dismisses later.

The arguments are the athlete's own save bodies (ActivityIn, PlanIn, GoalIn:
the same fields, ranges and checks as core-api's routes). A call stores one
pending proposal for (this reply, this tool step): run again for the same step,
it finds the same row and creates nothing (:func:`pacer_coach.store.proposals.create`).
"""

from __future__ import annotations

from pacer_coach.store import proposals
from pacer_coach.tools.base import ToolAnswer, ToolContext
from pacer_common.tables.athlete_data import Change

_WHAT = {"activity": "an activity to log", "plan": "a training plan", "goal": "a race goal"}


async def propose(context: ToolContext, change: Change) -> ToolAnswer:
    async with context.pool.acquire() as conn:
        proposal = await proposals.create(
            conn,
            user_id=context.user_id,
            message_id=context.message_id,
            step=context.step,
            change=change,
            ttl_s=context.proposal_ttl_s,
        )
    return ToolAnswer(
        {
            "proposal_id": proposal["id"],
            "status": proposal["status"],
            "note": "Nothing is saved yet: the athlete sees a card and applies or dismisses it.",
        },
        f"proposed {_WHAT[proposal['kind']]}",
        proposal,
    )
