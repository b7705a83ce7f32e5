"""One tool call, from the model's arguments to its result; it never raises but on cancellation.

Whatever goes wrong is a tool error the model reads and answers from, and the
reply goes on: arguments that did not parse or do not validate (the same 422
message a request body would get), a tool the catalogue does not have, a call
past its deadline (FUNCTION_TIMEOUT_SECONDS, or what is left of the reply's
budget if less), Postgres away, or a bug (logged with its traceback).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pacer_coach import metrics
from pacer_coach.tools.base import ToolAnswer, ToolContext
from pacer_coach.tools.catalogue import TOOLS, Tool
from pacer_common.llm import ToolCall, ToolResult
from pacer_common.logs import get_logger
from pacer_common.outages import OUTAGE_CLASSES, is_dependency_down
from pacer_common.web.json_body import validation_failed

log = get_logger(__name__)


@dataclass(frozen=True)
class ToolOutcome:
    """A call's result: for the model (:meth:`result`) and for the reply's ``tool`` event."""

    call_id: str
    name: str
    answer: ToolAnswer | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        return "error" if self.answer is None else "done"

    def result(self) -> ToolResult:
        if self.answer is None:
            # OpenAI has no error flag: the content says it is one by itself.
            return ToolResult(self.call_id, f"error: {self.error}", is_error=True)
        return ToolResult(self.call_id, json.dumps(self.answer.content, separators=(",", ":")))


def parse_arguments(call: ToolCall) -> tuple[Tool, Any] | str:
    """The tool and its validated arguments, or the error the model is told."""
    tool = TOOLS.get(call.name)
    if tool is None:
        return f"no tool named {call.name!r}; the tools are {', '.join(sorted(TOOLS))}"
    if call.arguments is None:
        return f"invalid arguments: {call.arguments_error or 'not a JSON object'}"
    try:
        # From JSON text, as a request body: strict types, dates as ISO strings.
        return tool, tool.arguments.model_validate_json(json.dumps(call.arguments))
    except ValidationError as error:
        return f"invalid arguments: {validation_failed(error).message}"


def _finish(name: str, outcome: str, started_s: float) -> None:
    label = name if name in TOOLS else "unknown"
    metrics.TOOL_CALLS.labels(label, outcome).inc()
    if outcome not in ("invalid_arguments", "unknown_tool"):
        metrics.TOOL_SECONDS.labels(label).observe(time.monotonic() - started_s)
    if outcome == "timeout":
        metrics.TOOL_TIMEOUTS.labels(label).inc()


async def run_call(
    call: ToolCall, parsed: tuple[Tool, Any] | str, context: ToolContext, timeout_s: float
) -> ToolOutcome:
    started_s = time.monotonic()
    if isinstance(parsed, str):
        _finish(
            call.name, "unknown_tool" if call.name not in TOOLS else "invalid_arguments", started_s
        )
        return ToolOutcome(call.call_id, call.name, error=parsed)
    tool, arguments = parsed
    try:
        async with asyncio.timeout(timeout_s):
            answer = await tool.run(context, arguments)
    except asyncio.CancelledError:
        # The reply was stopped (cancel, shutdown, its deadline): counted, then re-raised.
        _finish(call.name, "stopped", started_s)
        raise
    except TimeoutError:
        _finish(call.name, "timeout", started_s)
        log.warning("coach_tool_timeout", tool=call.name, timeout_s=round(timeout_s, 3))
        return ToolOutcome(call.call_id, call.name, error=f"timed out after {timeout_s:.1f} s")
    except Exception as error:
        if isinstance(error, OUTAGE_CLASSES) and is_dependency_down(error):
            _finish(call.name, "unavailable", started_s)
            log.warning("coach_tool_unavailable", tool=call.name, error=type(error).__name__)
            return ToolOutcome(call.call_id, call.name, error="the athlete's data is unavailable")
        _finish(call.name, "failed", started_s)
        log.exception("coach_tool_failed", tool=call.name)
        return ToolOutcome(call.call_id, call.name, error="the tool failed")
    _finish(call.name, "done", started_s)
    return ToolOutcome(call.call_id, call.name, answer=answer)
