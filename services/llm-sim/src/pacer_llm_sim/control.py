"""The simulator's process-global state: the mode in force and the request counters.

One simulator process serves one test session or one dev stack, so a single
``SimState`` held by the app is the whole truth; tests reset it between cases.
"""

from __future__ import annotations

import asyncio
import re
import resource
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal, cast

from pacer_llm_sim.exceptions import InvalidModeError
from pacer_llm_sim.metronome import Metronome

ModeName = Literal["normal", "slow", "hang", "error", "drop"]
MODE_NAMES: tuple[ModeName, ...] = ("normal", "slow", "hang", "error", "drop")
ENDPOINTS = ("/v1/messages", "/v1/chat/completions")

# Each field's accepted range; the upper bounds only stop a typo from wedging a test run.
_FIELD_RANGES: dict[str, tuple[int, int]] = {
    "first_token_ms": (0, 600_000),
    "token_ms": (0, 60_000),
    "status": (400, 599),
    "tokens": (0, 100_000),
    "retry_after_ms": (0, 600_000),
}
# Only the defaults that differ from Mode's own, per mode.
# A fixed reply instead of the generated text: tests of parsers (a coaching
# session's extraction) need exact JSON, or exactly invalid JSON.
TEXT_MAX_CHARS = 20_000
# What a coaching session's closing message ends with; the coach strips it.
# The coach's copy is pacer_common.topics.SESSION_END_MARKER (a test keeps them equal).
SESSION_END_MARKER = "[[END_SESSION]]"
# Tool calls a mode may script: enough for any test, few enough to read in a log.
MAX_TOOL_CALLS = 16
MAX_TOOL_ROUNDS = 100
# The names both providers accept for a tool.
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_MODE_DEFAULTS: dict[str, dict[str, int]] = {
    "slow": {"first_token_ms": 2000, "token_ms": 200},
}


@dataclass(frozen=True)
class ScriptedToolCall:
    """One tool call a mode tells the simulator to make: a name and its arguments."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Mode:
    """How every following completion request is answered.

    ``status`` and ``retry_after_ms`` matter only in ``error`` mode; the timings
    and ``tokens`` in ``normal``, ``slow`` and ``drop``. ``text``, when set, is
    the reply (``tokens`` is then ignored); ``end_session`` appends
    SESSION_END_MARKER, split across two tokens, as a session's closing reply.
    ``tool_calls``, when set, is what the next ``tool_rounds`` completion
    requests that offer tools answer with (SimState counts the rounds down).
    """

    mode: ModeName = "normal"
    first_token_ms: int = 0
    token_ms: int = 0
    status: int = 529
    tokens: int = 20
    retry_after_ms: int = 1000
    text: str | None = None
    end_session: bool = False
    tool_calls: tuple[ScriptedToolCall, ...] | None = None
    tool_rounds: int = 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_mode(body: object) -> Mode:
    """Build a Mode from a ``/_sim/mode`` body, filling what it leaves out.

    >>> parse_mode({"mode": "slow", "token_ms": 50})
    Mode(mode='slow', first_token_ms=2000, token_ms=50, status=529, tokens=20, retry_after_ms=1000, text=None, end_session=False, tool_calls=None, tool_rounds=1)
    """
    if not isinstance(body, Mapping):
        raise InvalidModeError("body must be a JSON object")
    name = body.get("mode")
    if name not in MODE_NAMES:
        raise InvalidModeError(f"mode must be one of {', '.join(MODE_NAMES)}; got {name!r}")
    known = {"mode", "text", "end_session", "tool_calls", "tool_rounds", *_FIELD_RANGES}
    unknown = sorted(set(body) - known)
    if unknown:
        raise InvalidModeError(f"unknown field(s): {', '.join(map(str, unknown))}")
    values = dict(_MODE_DEFAULTS.get(name, {}))
    for key, (low, high) in _FIELD_RANGES.items():
        if key not in body:
            continue
        value = body[key]
        # bool is an int subclass; `"tokens": true` is a client bug, not 1.
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidModeError(f"{key} must be an integer from {low} to {high}; got {value!r}")
        values[key] = value
    text = body.get("text")
    if text is not None and (not isinstance(text, str) or not 0 < len(text) <= TEXT_MAX_CHARS):
        raise InvalidModeError(f"text must be a string of 1 to {TEXT_MAX_CHARS} characters")
    end_session = body.get("end_session", False)
    if not isinstance(end_session, bool):
        raise InvalidModeError(f"end_session must be true or false; got {end_session!r}")
    tool_calls = _parse_tool_calls(body.get("tool_calls"))
    tool_rounds = body.get("tool_rounds", 1)
    if isinstance(tool_rounds, bool) or not isinstance(tool_rounds, int):
        tool_rounds = -1
    if not 1 <= tool_rounds <= MAX_TOOL_ROUNDS:
        raise InvalidModeError(f"tool_rounds must be an integer from 1 to {MAX_TOOL_ROUNDS}")
    if "tool_rounds" in body and tool_calls is None:
        raise InvalidModeError("tool_rounds needs tool_calls")
    return Mode(
        mode=cast(ModeName, name),
        **values,
        text=text,
        end_session=end_session,
        tool_calls=tool_calls,
        tool_rounds=tool_rounds,
    )


def _parse_tool_calls(raw: object) -> tuple[ScriptedToolCall, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_TOOL_CALLS:
        raise InvalidModeError(f"tool_calls must be an array of 1 to {MAX_TOOL_CALLS} calls")
    calls = []
    for index, call in enumerate(raw):
        where = f"tool_calls[{index}]"
        if not isinstance(call, Mapping):
            raise InvalidModeError(f"{where} must be an object with a name and arguments")
        unknown = sorted(set(call) - {"name", "arguments"})
        if unknown:
            raise InvalidModeError(f"{where}: unknown field(s): {', '.join(map(str, unknown))}")
        name = call.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise InvalidModeError(f"{where}.name must be 1 to 64 of a-z, A-Z, 0-9, _ and -")
        arguments = call.get("arguments", {})
        if not isinstance(arguments, dict):
            raise InvalidModeError(f"{where}.arguments must be a JSON object")
        calls.append(ScriptedToolCall(name=name, arguments=arguments))
    return tuple(calls)


class Outcome(StrEnum):
    """How a completion request ended; each value names its counter in the stats."""

    COMPLETED = "completed"
    ERRORS = "errors"
    DROPPED = "dropped"
    DISCONNECTED = "disconnected"


@dataclass
class Tracking:
    """One request in flight. Until told otherwise it assumes the client went away,
    so a cancelled or crashed handler is never counted as a finished answer."""

    stats: Stats
    outcome: Outcome = Outcome.DISCONNECTED

    def model(self, name: str) -> None:
        self.stats.by_model[name] = self.stats.by_model.get(name, 0) + 1

    def first_token_sent(self) -> None:
        # Wall-clock time, so a benchmark on the same machine can compare it
        # with when its client saw the first delta (first token → first delta).
        self.stats.last_first_token_at = time.time()


@dataclass
class Stats:
    """Request counters. Invariant:
    ``requests == active + completed + errors + dropped + disconnected``."""

    requests: int = 0
    by_endpoint: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENDPOINTS, 0))
    by_model: dict[str, int] = field(default_factory=dict)
    active: int = 0
    completed: int = 0
    errors: int = 0
    dropped: int = 0
    disconnected: int = 0
    last_first_token_at: float | None = None
    # The newest valid request's JSON body: a test reads what its caller sent (a prompt).
    last_request: Any = None
    # Tokens (or argument fragments) streamed, and the writes that carried them:
    # more tokens than writes means the simulator woke late and sent due tokens
    # together, so a benchmark reports how faithfully it kept one event per write.
    stream_tokens: int = 0
    stream_writes: int = 0

    @contextmanager
    def track(self, endpoint: str) -> Iterator[Tracking]:
        self.requests += 1
        self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1
        self.active += 1
        tracking = Tracking(self)
        try:
            yield tracking
        finally:
            # In a finally so that cancellation (client gone, server stopping)
            # still balances `active`: callers prove cancellation with it.
            self.active -= 1
            setattr(self, tracking.outcome.value, getattr(self, tracking.outcome.value) + 1)

    def as_dict(self) -> dict[str, Any]:
        # The process's CPU seconds so far (user + system; not zeroed by reset):
        # a benchmark reports the simulator's share beside the stack's from two
        # readings, without needing to see the process (a container's, say).
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {**asdict(self), "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 6)}


@dataclass
class SimState:
    """Everything the routes share. ``reset`` swaps in a fresh Stats object, so
    requests still in flight from before settle on the old one and cannot leak
    into the counts a new test reads."""

    mode: Mode = field(default_factory=Mode)
    stats: Stats = field(default_factory=Stats)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # The one timer source every stream's tokens wait on.
    metronome: Metronome = field(default_factory=Metronome)
    # How many more tool-offering requests answer with mode.tool_calls.
    tool_rounds_left: int = 0

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        self.tool_rounds_left = mode.tool_rounds if mode.tool_calls else 0

    def reset(self) -> None:
        self.set_mode(Mode())
        self.stats = Stats()

    def take_tool_calls(self, mode: Mode) -> tuple[ScriptedToolCall, ...] | None:
        """The calls a tool-offering request answered under ``mode`` makes, counting
        down a round; None once the rounds are spent (or ``mode`` is no longer in force)."""
        if mode.tool_calls is None or mode is not self.mode or self.tool_rounds_left <= 0:
            return None
        self.tool_rounds_left -= 1
        return mode.tool_calls

    def mode_dict(self) -> dict[str, Any]:
        return {**self.mode.as_dict(), "tool_rounds_left": self.tool_rounds_left}
