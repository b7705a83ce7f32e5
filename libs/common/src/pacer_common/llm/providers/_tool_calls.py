"""Streamed tool calls put back together, and their arguments parsed without guessing.

Both providers stream a call as an opening (its id and name) and then its
arguments' JSON in fragments: Anthropic under the call's content block index
(``input_json_delta``), OpenAI under ``delta.tool_calls[].index``. The index
is a key, not a position: OpenAI-compatible servers have been seen to repeat
one index for every call and to skip indexes (openai-python #3201, #3203), so
an opening whose id differs from the call open at its index starts a new call,
a fragment for an index never opened opens one, and calls keep the order in
which they opened.

Arguments are parsed once, when the answer is complete. JSON that does not
parse, or is not an object, is never passed off as ``{}``: the call gets
``arguments=None`` and ``arguments_error``, cut off at max_tokens or malformed.
Empty arguments are ``{}`` unless the answer was cut off (Anthropic streams no
fragment at all for a call of a tool without parameters).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pacer_common.llm.types import ToolCall

# How much of unparseable arguments an error quotes (for the model and the logs).
_QUOTE_CHARS = 60


@dataclass
class _Partial:
    call_id: str
    name: str
    fragments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Openings and fragments in, complete ToolCalls out (:meth:`finish`)."""

    def __init__(self) -> None:
        self._calls: list[_Partial] = []
        self._open: dict[object, _Partial] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def open(self, key: object, call_id: str | None, name: str | None) -> None:
        """A call's opening: or, for the call already open at ``key`` under the
        same (or no) id, more of its opening (a name repeated in each delta)."""
        current = self._open.get(key)
        if current is not None and (not call_id or current.call_id in ("", call_id)):
            current.call_id = current.call_id or call_id or ""
            current.name = current.name or name or ""
            return
        self._start(key, call_id or "", name or "")

    def add(self, key: object, fragment: str) -> None:
        current = self._open.get(key)
        if current is None:
            current = self._start(key, "", "")
        if fragment:
            current.fragments.append(fragment)

    def finish(self, finish_reason: str | None) -> list[ToolCall]:
        """The calls, parsed; ``finish_reason`` "length" means the answer was cut off."""
        cut = finish_reason == "length"
        calls = [_parsed(partial, number, cut) for number, partial in enumerate(self._calls)]
        self._calls, self._open = [], {}
        return calls

    def _start(self, key: object, call_id: str, name: str) -> _Partial:
        partial = _Partial(call_id, name)
        self._calls.append(partial)
        self._open[key] = partial
        return partial


def _parsed(partial: _Partial, number: int, cut: bool) -> ToolCall:
    text = "".join(partial.fragments)
    # A call whose opening never came still needs an id its result can name.
    call_id = partial.call_id or f"call_unnamed_{number}"
    arguments, error = parse_arguments(text, cut=cut)
    return ToolCall(call_id, partial.name, arguments, error, text)


def parse_arguments(text: str, *, cut: bool) -> tuple[dict[str, Any] | None, str | None]:
    """``(object, None)``, or ``(None, why)`` for JSON that is not a whole object.

    >>> parse_arguments('{"days": 28}', cut=False)
    ({'days': 28}, None)
    >>> parse_arguments('{"days": ', cut=True)
    (None, 'arguments cut off at max_tokens after 9 characters: {"days": ')
    >>> parse_arguments('', cut=False)
    ({}, None)
    """
    if not text.strip():
        if cut:
            return None, "arguments cut off at max_tokens before any was sent"
        return {}, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        quoted = text[:_QUOTE_CHARS]
        if cut:
            return None, f"arguments cut off at max_tokens after {len(text)} characters: {quoted}"
        return None, f"arguments are not valid JSON ({error.msg} at {error.pos}): {quoted}"
    if not isinstance(value, dict):
        return None, f"arguments are a JSON {type(value).__name__}, not an object"
    return value, None
