"""A reply's tool calls: each logged as a ``tool`` event when it starts and when it ends.

The model's round ends with its calls (:mod:`pacer_coach.chat.llm_call`); here
they run one after another, in the model's order, each numbered by its step in
the reply (0, 1, ... across all rounds: a proposal's key with the reply), each
under FUNCTION_TIMEOUT_SECONDS or what is left of the reply's one budget,
whichever is less. Every call gets a result, an error included, so the model's
next round answers from all of them and the reply still ends with ``done``.

The ``tool`` event (:func:`pacer_common.reply_log.entries.tool`)::

    {"call_id", "name", "status": "running", "summary": "Looking at your last 28 days…"}
    {"call_id", "name", "status": "done", "summary": "12 activities in the last 28 days"}
    {"call_id", "name", "status": "done", "summary": "proposed an activity to log",
     "proposal": {"id", "kind", "change", "status": "pending", "expires_at", ...}}
    {"call_id", "name", "status": "error", "error": "timed out after 30.0 s"}
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from pacer_coach.chat.outbox import ReplyOutbox
from pacer_coach.tools.base import ToolContext
from pacer_coach.tools.runner import parse_arguments, run_call
from pacer_common.llm import Deadline, ToolCall, ToolResult
from pacer_common.reply_log import entries


@dataclass(frozen=True)
class ToolLimits:
    """The coach's tool settings, as every reply's producer reads them (ReplyServices)."""

    timeout_s: float  # FUNCTION_TIMEOUT_SECONDS
    max_steps: int  # COACH_MAX_TOOL_STEPS: model/tool rounds per reply
    proposal_ttl_s: float  # COACH_PROPOSAL_TTL_SECONDS


@dataclass
class ToolRunner:
    """One reply's tool calls: who, which reply, and the next call's step."""

    pool: asyncpg.Pool
    user_id: UUID
    message_id: UUID
    limits: ToolLimits
    deadline: Deadline
    outbox: ReplyOutbox
    next_step: int = 0

    async def run_round(self, calls: tuple[ToolCall, ...]) -> tuple[ToolResult, ...]:
        return tuple([await self._one(call) for call in calls])

    async def _one(self, call: ToolCall) -> ToolResult:
        context = ToolContext(
            self.pool, self.user_id, self.message_id, self.next_step, self.limits.proposal_ttl_s
        )
        self.next_step += 1
        parsed = parse_arguments(call)
        running = None if isinstance(parsed, str) else parsed[0].running(parsed[1])
        self.outbox.add(entries.tool(call.call_id, call.name, "running", summary=running))
        timeout_s = min(self.limits.timeout_s, self.deadline.remaining())
        outcome = await run_call(call, parsed, context, timeout_s)
        answer = outcome.answer
        self.outbox.add(
            entries.tool(
                call.call_id,
                call.name,
                outcome.status,
                summary=answer.summary if answer is not None else None,
                error=outcome.error,
                proposal=answer.proposal if answer is not None else None,
            )
        )
        return outcome.result()
