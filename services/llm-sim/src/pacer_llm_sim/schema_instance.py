"""A deterministic, valid instance of a JSON Schema: the simulator's structured output.

Asked for structured output (OpenAI ``response_format`` ``json_schema``, an
Anthropic forced tool), a real model answers with an instance of the caller's
schema; the simulator answers with this one. The same schema always gives the
same instance, so a test can predict it, and it is built to validate: every
property present (required or not: OpenAI's strict mode requires them all),
numbers inside their bounds and on their ``multipleOf``, strings within their
lengths and in their ``format``, arrays with one item (or ``minItems``).

Written here rather than taken from a library: the generators on PyPI
(hypothesis-jsonschema, jsf) draw random instances through Hypothesis or Faker,
a heavy dependency for a stand-in that needs one fixed answer, and the subset
providers accept in strict mode (types, ``enum``/``const``, bounds, lengths,
``anyOf``, ``$ref`` into ``$defs``, nested objects and arrays) is small.
Not honoured: ``pattern`` (a string is not generated to match a regex),
``not``, ``if``/``then``, ``oneOf``'s exclusivity (its first branch is taken),
``uniqueItems`` beyond strings, ``minProperties``/``maxProperties``.

>>> instance({"type": "object", "properties": {"effort": {"type": "integer", "minimum": 1, "maximum": 10}}})
{'effort': 5}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pacer_llm_sim.exceptions import InvalidRequestError

# Beyond this depth only required properties and minItems are generated, so a
# recursive schema (a tree through $ref) ends.
_MAX_DEPTH = 8
_FORMATS = {
    "date": "2027-04-25",
    "date-time": "2027-04-25T07:30:00Z",
    "time": "07:30:00",
    "duration": "PT1H",
    "email": "athlete@example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_TYPE_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")


def instance(schema: Mapping[str, Any]) -> Any:
    """A valid instance of ``schema``; InvalidRequestError if it cannot be read."""
    return _Generator(schema).value(schema, name="value", depth=0, index=0)


class _Generator:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def value(self, schema: object, *, name: str, depth: int, index: int) -> Any:
        if schema is True or schema == {}:
            return None
        if not isinstance(schema, Mapping):
            raise InvalidRequestError(f"schema for {name!r} must be an object")
        if "$ref" in schema:
            return self.value(self._resolve(schema["$ref"]), name=name, depth=depth, index=index)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = schema["enum"]
            if not isinstance(options, list) or not options:
                raise InvalidRequestError(f"enum of {name!r} must be a non-empty array")
            # Items of an array cycle through the options, so uniqueItems holds where it can.
            return options[index % len(options)]
        if "allOf" in schema:
            return self.value(_merge(schema["allOf"], schema), name=name, depth=depth, index=index)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.value(_branch(schema[key], name), name=name, depth=depth, index=index)
        kind = _type(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind == "string":
            return _string(schema, name, index)
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer", name=name)
        if kind == "boolean":
            return index % 2 == 0
        return None

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        result: dict[str, Any] = {}
        for key, sub in properties.items():
            if depth >= _MAX_DEPTH and key not in required:
                continue
            result[key] = self.value(sub, name=key, depth=depth + 1, index=0)
        return result

    def _array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        low = schema.get("minItems", 0)
        high = schema.get("maxItems")
        count = max(low, 0 if depth >= _MAX_DEPTH else 1)
        if high is not None:
            count = min(count, high)
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", {})
        return [
            self.value(prefix[i] if i < len(prefix) else items, name=name, depth=depth + 1, index=i)
            for i in range(count)
        ]

    def _resolve(self, ref: object) -> object:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise InvalidRequestError(f"only local $ref ('#/...') is supported, got {ref!r}")
        node: object = self.root
        for part in filter(None, ref[1:].split("/")):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or key not in node:
                raise InvalidRequestError(f"$ref {ref!r} points at nothing")
            node = node[key]
        return node


def _type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        # ["string", "null"]: the first real type, so the field carries a value.
        named = [k for k in _TYPE_ORDER if k in kind and k != "null"]
        return named[0] if named else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "null"


def _branch(options: object, name: str) -> object:
    if not isinstance(options, list) or not options:
        raise InvalidRequestError(f"anyOf/oneOf of {name!r} must be a non-empty array")
    for option in options:
        if not (isinstance(option, Mapping) and option.get("type") == "null"):
            return option
    return options[0]


def _merge(parts: object, outer: Mapping[str, Any]) -> dict[str, Any]:
    merged = {key: value for key, value in outer.items() if key != "allOf"}
    if not isinstance(parts, list):
        raise InvalidRequestError("allOf must be an array")
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _string(schema: Mapping[str, Any], name: str, index: int) -> str:
    fixed = _FORMATS.get(str(schema.get("format")))
    if fixed is not None:
        return fixed
    words = name.replace("_", " ").replace("-", " ").strip() or "value"
    text = f"Simulated {words}" + (f" {index + 1}" if index else "")
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    if len(text) < low:
        text += "x" * (low - len(text))
    if high is not None and len(text) > int(high):
        # Keep the end, where an item's number is, so items stay distinct.
        text = text[len(text) - int(high) :]
    return text


def _number(schema: Mapping[str, Any], *, integer: bool, name: str) -> int | float:
    low, high = _bounds(schema, integer)
    if low is not None and high is not None and low > high:
        raise InvalidRequestError(f"{name!r} has no number between its bounds")
    value: float
    if low is not None and high is not None:
        value = low + (high - low) // 2 if integer else (low + high) / 2
    elif low is not None:
        value = low
    elif high is not None:
        value = min(high, 1)
    else:
        value = 1
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
        value = math.ceil(value / step) * step
        if high is not None and value > high:
            value = math.floor(high / step) * step
    return int(value) if integer else float(value)


def _bounds(schema: Mapping[str, Any], integer: bool) -> tuple[float | None, float | None]:
    low: float | None = schema.get("minimum")
    high: float | None = schema.get("maximum")
    # An exclusive bound: the next integer, or a small step inside for a number.
    nudge = 1 if integer else 1e-6
    exclusive_low = schema.get("exclusiveMinimum")
    if isinstance(exclusive_low, int | float) and not isinstance(exclusive_low, bool):
        low = max(low, exclusive_low + nudge) if low is not None else exclusive_low + nudge
    exclusive_high = schema.get("exclusiveMaximum")
    if isinstance(exclusive_high, int | float) and not isinstance(exclusive_high, bool):
        high = min(high, exclusive_high - nudge) if high is not None else exclusive_high - nudge
    if integer:
        low = math.ceil(low) if low is not None else None
        high = math.floor(high) if high is not None else None
    return low, high
