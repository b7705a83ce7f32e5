"""The log's entries: their kinds, their fields, and the builders of each kind.

An entry has ``t`` (its kind), ``d`` (the JSON its SSE event carries, sent as it
is) and, for ``meta`` and ``delta``, ``x`` (JSON for recovery only: the model's
identity and prices, a delta's token count). Every entry of every log is built
here, by the coach that produces a reply and by whoever settles a dead one, so
the format has one spelling.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pacer_common.llm.registry import ModelSpec, Provider

# The fields of a log entry in Redis.
KIND, DATA, EXTRA = "t", "d", "x"
# The statuses a reply can end with: the stored row's and `done`'s.
FINAL_STATUSES = frozenset({"complete", "partial", "failed"})


class Kind(StrEnum):
    META = "meta"
    DELTA = "delta"
    ERROR = "error"
    DONE = "done"
    TOOL = "tool"


def compact(payload: dict[str, Any]) -> str:
    """JSON as the log holds it (and the SSE event carries it)."""
    return json.dumps(payload, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry: ``data`` is its event's JSON, ``extra`` the recovery-only JSON; ``id``
    once it has one (chosen by its producer, or read back from Redis)."""

    kind: str
    data: str
    extra: str = ""
    id: str = ""

    def fields(self) -> dict[str, str]:
        """What XADD stores."""
        fields = {KIND: self.kind, DATA: self.data}
        if self.extra:
            fields[EXTRA] = self.extra
        return fields

    @property
    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data)
        return value

    @property
    def recovery(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.extra) if self.extra else {}
        return value


def meta(
    *,
    conversation_id: object,
    message_id: object,
    user_message_id: object,
    model: str | None,
    spec: ModelSpec | None = None,
) -> Entry:
    """The first entry: whose reply this is, and the model (``spec``: its identity and
    prices, which a settler needs for the usage row)."""
    data = {
        "conversation_id": str(conversation_id),
        "message_id": str(message_id),
        # None only for a row settled without its turn's user message (none is stored).
        "user_message_id": None if user_message_id is None else str(user_message_id),
        "model": model,
    }
    extra = ""
    if spec is not None:
        extra = compact(
            {
                "model_code": spec.code,
                "provider": str(spec.provider),
                "model_id": spec.model_id,
                "input_usd_per_mtok": str(spec.input_usd_per_mtok),
                "output_usd_per_mtok": str(spec.output_usd_per_mtok),
            }
        )
    return Entry(Kind.META, compact(data), extra)


def spec_of(meta_entry: Entry | None) -> ModelSpec | None:
    """The model ``meta`` was logged with, as the registry's spec (its prices then)."""
    extra = meta_entry.recovery if meta_entry is not None else {}
    if not extra.get("model_id"):
        return None
    provider: Provider = "openai" if extra.get("provider") == "openai" else "anthropic"
    return ModelSpec(
        code=str(extra.get("model_code")),
        provider=provider,
        model_id=str(extra["model_id"]),
        input_usd_per_mtok=Decimal(str(extra.get("input_usd_per_mtok", "0"))),
        output_usd_per_mtok=Decimal(str(extra.get("output_usd_per_mtok", "0"))),
    )


def delta(text: str, tokens: int, *, replace: bool = False) -> Entry:
    """Text, coalesced from ``tokens`` tokens; ``replace``: the whole reply so far."""
    data: dict[str, Any] = {"text": text}
    if replace:
        data["replace"] = True
    return Entry(Kind.DELTA, compact(data), compact({"n": tokens}) if tokens else "")


def delta_data(text: str) -> str:
    """A delta's ``d`` alone, for text joined as it is written (the producer's hot path)."""
    return compact({"text": text})


# A tool call's states in its ``tool`` entries: ``running`` when it starts, then
# one of the other two with its result.
TOOL_STATUSES = frozenset({"running", "done", "error"})


def tool(
    call_id: str,
    name: str,
    status: str,
    *,
    summary: str | None = None,
    error: str | None = None,
    proposal: dict[str, Any] | None = None,
) -> Entry:
    """A tool call of the reply (``running``) or its result (``done`` / ``error``):
    ``summary`` a line for the athlete, ``error`` what went wrong, ``proposal`` the
    pending change a proposal tool stored (its ``id`` and what it would change)."""
    if status not in TOOL_STATUSES:
        raise ValueError(f"a tool entry's status is running, done or error, not {status!r}")
    data: dict[str, Any] = {"call_id": call_id, "name": name, "status": status}
    for key, value in (("summary", summary), ("error", error), ("proposal", proposal)):
        if value is not None:
            data[key] = value
    return Entry(Kind.TOOL, compact(data))


def error(code: str, message: str, *, retryable: bool) -> Entry:
    return Entry(Kind.ERROR, compact({"code": code, "message": message, "retryable": retryable}))


def interrupted() -> Entry:
    """The error of a reply whose producer died: settled by someone else."""
    return error(
        "interrupted", "The coach stopped mid-reply; this is what it wrote.", retryable=True
    )


def cancelled() -> Entry:
    """The error of a reply the athlete cancelled."""
    return error("cancelled", "The reply was cancelled.", retryable=False)


def done(
    *,
    status: str,
    finish_reason: str,
    input_tokens: int | None,
    output_tokens: int | None,
    latency_ms: int,
    is_final: bool | None = None,
) -> Entry:
    """The last entry. ``status`` must be final: a ``done`` never says ``streaming``.
    ``is_final`` (a coaching session's reply only): this reply ended the session."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"done needs a final status, not {status!r}")
    data: dict[str, Any] = {
        "status": status,
        "finish_reason": finish_reason,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        "latency_ms": latency_ms,
    }
    if is_final is not None:
        data["is_final"] = is_final
    return Entry(Kind.DONE, compact(data))
