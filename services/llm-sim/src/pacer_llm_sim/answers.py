"""What a completion request is answered with, decided once for both providers.

A dialect parses a request into a ``Prompt`` (what was asked: tools offered, a
structured answer, tool results to read); ``plan`` turns it and the mode into an
``Answer`` (text tokens, or tool calls whose JSON arguments are cut into
fragments); the dialect writes the Answer as a ``Script`` of pre-encoded bytes
that playback sends on time. In order, the first that applies wins:

1. the mode's ``tool_calls``, while rounds are left, if the request offers tools;
2. the mode's fixed ``text``;
3. a structured answer if one was asked for (a schema instance: JSON text for
   OpenAI's ``response_format``, a call of the forced tool otherwise);
4. if the newest turn carries tool results: a sentence quoting the start of
   each, then the generated text;
5. if ``propose_activity`` is offered and the newest user message mentions a
   run with its duration ("I ran 10k this morning in 52 minutes"): a call of
   it with the run's arguments (:mod:`pacer_llm_sim.run_mentions`);
6. the generated text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, Self

from pacer_llm_sim.control import SESSION_END_MARKER, Mode, ScriptedToolCall
from pacer_llm_sim.replies import count_words, prompt_key, reply_tokens, split_tokens
from pacer_llm_sim.run_mentions import TOOL as RUN_TOOL
from pacer_llm_sim.run_mentions import proposed_activity
from pacer_llm_sim.schema_instance import instance

Ending = Literal["max_tokens", "tool_calls", "done"]

# How much of each tool result the answer quotes: enough for a test to recognise it.
QUOTE_CHARS = 80


@dataclass(frozen=True)
class ToolResult:
    """A tool's result in the newest turn. ``name`` is the tool's name when the
    conversation says which call it answers, else the call id."""

    name: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class StructuredAsk:
    """A request for an answer shaped by a schema: JSON text (``tool`` None,
    OpenAI's response_format) or a call of the forced tool ``tool``. ``value``
    is the schema's instance, made while the request is read, so a schema the
    generator cannot read is the request's 400."""

    value: Any
    tool: str | None = None

    @classmethod
    def of(cls, schema: Mapping[str, Any], tool: str | None = None) -> StructuredAsk:
        return cls(instance(schema), tool)


class Prompt(Protocol):
    """What a dialect read from a valid completion request."""

    @property
    def model(self) -> str: ...
    @property
    def stream(self) -> bool: ...
    @property
    def prompt_key(self) -> bytes: ...
    @property
    def max_tokens(self) -> int | None: ...
    @property
    def offers_tools(self) -> bool: ...
    @property
    def structured(self) -> StructuredAsk | None: ...
    @property
    def tool_results(self) -> tuple[ToolResult, ...]: ...
    @property
    def tool_names(self) -> frozenset[str]: ...
    @property
    def last_user_text(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class Asked:
    """A Prompt as both dialects read it; each dialect's reply adds its own ids."""

    model: str
    stream: bool
    prompt_key: bytes
    max_tokens: int | None
    input_tokens: int
    offers_tools: bool = False
    structured: StructuredAsk | None = None
    tool_results: tuple[ToolResult, ...] = ()
    # The tools the model may call now, and the newest user message's text (the
    # default mode's propose_activity reads both).
    tool_names: frozenset[str] = frozenset()
    last_user_text: str = ""

    @classmethod
    def read(
        cls,
        model: str,
        parts: Sequence[tuple[str, str]],
        *,
        tools: Iterable[str],
        offers_tools: bool,
        **fields: Any,
    ) -> Self:
        """The reply to a request for ``model`` of these (role, text) ``parts``,
        offering ``tools`` (or not: ``offers_tools``); ``fields`` are the rest."""
        return cls(
            model=model,
            prompt_key=prompt_key(model, parts),
            input_tokens=count_words(text for _, text in parts),
            offers_tools=offers_tools,
            tool_names=frozenset(tools) if offers_tools else frozenset(),
            last_user_text=next((text for role, text in reversed(parts) if role == "user"), ""),
            **fields,
        )


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    # The arguments' JSON text cut where it has spaces, as the deltas that stream it.
    fragments: tuple[str, ...]

    @property
    def arguments_json(self) -> str:
        return "".join(self.fragments)


@dataclass(frozen=True)
class Answer:
    """Text tokens, or tool calls (never both). Each token or argument fragment is
    one step of a stream, and one output token. ``truncated``: cut at max_tokens
    (a call's arguments included)."""

    tokens: tuple[str, ...] = ()
    calls: tuple[ToolCall, ...] = ()
    truncated: bool = False

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def steps(self) -> int:
        return len(self.tokens) + sum(len(call.fragments) for call in self.calls)

    @property
    def ending(self) -> Ending:
        """How the answer ends; each dialect names it in its own words."""
        if self.truncated:
            return "max_tokens"
        return "tool_calls" if self.calls else "done"


@dataclass(frozen=True)
class Script:
    """A streamed answer on the wire: ``head`` at once, each of ``steps`` on its
    token's time, ``tail`` to end it (a cut stream never sends it)."""

    head: bytes
    steps: tuple[bytes, ...]
    tail: bytes


def tool_call(name: str, arguments: dict[str, Any], call_id: str) -> ToolCall:
    text = json.dumps(arguments, ensure_ascii=False)
    return ToolCall(call_id, name, arguments, tuple(split_tokens(text)) or (text,))


def plan(
    prompt: Prompt,
    mode: Mode,
    scripted: tuple[ScriptedToolCall, ...] | None,
    new_call_id: Callable[[], str],
) -> Answer:
    """The answer to ``prompt`` under ``mode``; ``scripted`` are the mode's tool
    calls when this request is to make them (SimState.take_tool_calls)."""
    if scripted is not None:
        return _capped_calls(
            prompt, [tool_call(c.name, c.arguments, new_call_id()) for c in scripted]
        )
    ask = prompt.structured
    if mode.text is None and ask is not None:
        if ask.tool is not None:
            return _capped_calls(prompt, [tool_call(ask.tool, ask.value, new_call_id())])
        # No session marker: it would make the JSON invalid.
        return _capped(prompt, split_tokens(json.dumps(ask.value, ensure_ascii=False)))
    if mode.text is None and (run := _run_mentioned(prompt)) is not None:
        # Cut at max_tokens like any call: a provider does not spare the default one.
        return _capped_calls(prompt, [tool_call(RUN_TOOL, run, new_call_id())])
    if mode.text is not None:
        tokens = split_tokens(mode.text)
    else:
        tokens = split_tokens(_quotes(prompt.tool_results))
        tokens += reply_tokens(prompt.prompt_key, mode.tokens)
    if mode.end_session:
        half = len(SESSION_END_MARKER) // 2
        tokens += [SESSION_END_MARKER[:half], SESSION_END_MARKER[half:]]
    return _capped(prompt, tokens)


def _run_mentioned(prompt: Prompt) -> dict[str, Any] | None:
    """propose_activity's arguments, if the request offers it and the athlete just told of a run."""
    if RUN_TOOL not in prompt.tool_names or prompt.tool_results:
        return None
    return proposed_activity(prompt.last_user_text, dt.datetime.now(dt.UTC))


def _quotes(results: tuple[ToolResult, ...]) -> str:
    """One sentence per tool result with the start of its content, verbatim."""
    return "".join(
        f"{'Error from' if result.is_error else 'Result of'} {result.name}: "
        f"«{result.content[:QUOTE_CHARS]}» "
        for result in results
    )


def _capped_calls(prompt: Prompt, calls: list[ToolCall]) -> Answer:
    """The calls cut at ``max_tokens`` argument fragments, as a provider cuts them:
    the call it reached keeps the fragments sent so far (its JSON unfinished,
    its ``arguments`` {}), the ones after it are never made."""
    budget = prompt.max_tokens
    if budget is None or budget >= sum(len(call.fragments) for call in calls):
        return Answer(calls=tuple(calls))
    kept: list[ToolCall] = []
    for call in calls:
        if budget <= 0:
            break
        if len(call.fragments) > budget:
            call = ToolCall(call.id, call.name, {}, call.fragments[:budget])
        kept.append(call)
        budget -= len(call.fragments)
    return Answer(calls=tuple(kept), truncated=True)


def _capped(prompt: Prompt, tokens: list[str]) -> Answer:
    limit = prompt.max_tokens
    truncated = limit is not None and limit < len(tokens)
    if limit is not None:
        tokens = tokens[:limit]
    return Answer(tokens=tuple(tokens), truncated=truncated)
