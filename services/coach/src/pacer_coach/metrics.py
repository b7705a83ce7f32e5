"""The coach's own Prometheus metrics (HTTP, event-loop lag and LLM metrics come from pacer_common)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OPEN_STREAMS = Gauge("coach_open_streams", "Chat streams open in this process.")
STREAMS_FINISHED = Counter(
    "coach_streams_total",
    "Chat streams by how they ended: status complete/partial/failed, code of the error or none.",
    ["status", "code"],
)
CHATS_REFUSED = Counter(
    "coach_chats_refused_total",
    "Chats refused before a stream opened, by reason.",
    ["reason"],
)
SESSIONS_ENDED = Counter(
    "coach_sessions_ended_total",
    "Coaching sessions moved to extracting, by what ended them: the model's marker, "
    "max_turns, the client's complete, or complete again after a failed extraction (retry).",
    ["reason"],
)
COMPLETE_ANSWERS = Counter(
    "coach_session_complete_answers_total",
    "Answers of POST /v1/coach/sessions/{id}/complete by the session's status then: "
    "completed or extraction_failed (200), extracting (202: the wait ran out).",
    ["status"],
)
REPLY_LOG_WRITES = Counter(
    "coach_reply_log_writes_total",
    "Redis pipelines that wrote reply logs (chat/log_writer.py: one per window for every reply).",
)
REPLY_LOG_WRITE_FAILURES = Counter(
    "coach_reply_log_write_failures_total",
    "Reply-log pipelines that failed as a whole (Redis unreachable or too slow); their replies retry.",
)
REPLY_LOG_ENTRIES = Counter(
    "coach_reply_log_entries_total",
    "Reply log entries written; divided by coach_reply_log_writes_total, the entries a pipeline.",
)
# Tools (pacer_coach.tools.runner). `tool` is a catalogue name, or "unknown" for a
# name the model made up (bounded: the label never takes the model's text).
TOOL_CALLS = Counter(
    "coach_tool_calls_total",
    "Tool calls by tool and outcome: done, invalid_arguments, unknown_tool, timeout, "
    "unavailable (Postgres away), failed (a bug) or stopped (the reply was cancelled, "
    "shut down or out of time mid-call).",
    ["tool", "outcome"],
)
TOOL_SECONDS = Histogram(
    "coach_tool_duration_seconds",
    "How long a tool call ran, arguments validated to result, by tool (timeouts included).",
    ["tool"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TOOL_TIMEOUTS = Counter(
    "coach_tool_timeouts_total",
    "Tool calls cut at FUNCTION_TIMEOUT_SECONDS (or at the reply's own deadline), by tool.",
    ["tool"],
)
