"""Deterministic reply text and the simulator's notion of a token.

A token is one word with its trailing space, so ``"".join(tokens)`` is the reply
and ``len(tokens)`` is its output token count. The words come from a fixed
coaching vocabulary, picked by a generator seeded with a hash of the prompt:
the same model and messages always read the same, another prompt reads differently.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

_SUBJECTS = (
    "Your legs",
    "Your aerobic base",
    "This week's load",
    "Your easy pace",
    "Recovery",
    "Your long run",
    "Sleep",
    "The tempo work",
    "Your cadence",
    "Your resting heart rate",
    "The build toward race day",
    "Hill strength",
)
_VERBS = ("looks", "feels", "is trending", "should stay", "seems", "keeps coming along")
_COMPLEMENTS = (
    "steady",
    "on track",
    "a little heavy",
    "right where we want it",
    "relaxed and smooth",
    "well controlled",
    "ahead of plan",
    "solid after the last block",
)
_ADVICE = (
    "Keep the easy days truly easy.",
    "Add six short strides after tomorrow's run.",
    "Drink well before the long run.",
    "Take an extra rest day if the soreness lingers.",
    "Aim for eight hours of sleep tonight.",
    "Hold back through the first half of the tempo.",
    "Fuel early on any run over ninety minutes.",
    "Run hilly routes by feel rather than by pace.",
    "Finish the week with a gentle shakeout.",
    "Stretch your calves after every session.",
)


def prompt_key(model: str, parts: Sequence[tuple[str, str]]) -> bytes:
    """A stable digest of a prompt: the model plus each (role, text) in order."""
    canonical = json.dumps([model, [list(part) for part in parts]], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).digest()


def reply_tokens(key: bytes, count: int) -> list[str]:
    """``count`` tokens of readable coaching text chosen by ``key``.

    >>> "".join(reply_tokens(prompt_key("m", [("user", "hi")]), 4)).count(" ")
    4
    """
    rng = random.Random(key)
    words: list[str] = []
    while len(words) < count:
        if rng.random() < 0.5:
            sentence = rng.choice(_ADVICE)
        else:
            subject, verb = rng.choice(_SUBJECTS), rng.choice(_VERBS)
            sentence = f"{subject} {verb} {rng.choice(_COMPLEMENTS)}."
        words.extend(sentence.split())
    return [f"{word} " for word in words[:count]]


def split_tokens(text: str) -> list[str]:
    """A fixed reply cut into the simulator's tokens: each word with the
    whitespace after it, so ``"".join`` gives the text back exactly.

    >>> split_tokens(' {"a": 1}\\n')
    [' ', '{"a": ', '1}\\n']
    """
    return re.findall(r"^\s+|\S+\s*", text)


def count_words(texts: Iterable[str]) -> int:
    """The simulator's input token count: whitespace-separated words."""
    return sum(len(text.split()) for text in texts)


# Stands for the token while a template is rendered; JSON escapes it as itself.
_MARK = "pacer-sim-token-mark"


def escaped_template(render: Callable[[str], bytes]) -> Callable[[str], bytes]:
    """``render`` (a token's whole event, encoded) split once around the token, so
    each token costs two concatenations and a cached JSON escape, not a dump of
    the whole event: most of a stream's CPU used to go on re-encoding the same
    frame around a different word.

    >>> encode = escaped_template(lambda text: json.dumps({"text": text}).encode())
    >>> encode('say "hi" ')
    b'{"text": "say \\"hi\\" "}'
    """
    before, after = render(_MARK).split(_escaped(_MARK))
    return lambda text: before + _escaped(text) + after


@lru_cache(maxsize=4096)
def _escaped(text: str) -> bytes:
    # The generated replies draw on a vocabulary of a few hundred words.
    return json.dumps(text, ensure_ascii=False).encode()


def wire_json(data: Mapping[str, Any]) -> bytes:
    """JSON as the providers send it: compact, UTF-8 unescaped."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def sse(data: Mapping[str, Any], event: str | None = None) -> bytes:
    """One server-sent event carrying ``data`` (Anthropic names its events, OpenAI not)."""
    named = f"event: {event}\n" if event else ""
    return named.encode() + b"data: " + wire_json(data) + b"\n\n"


def texts_of(content: object) -> list[str] | None:
    """The text of a message's content: a string, or a list of content blocks (other
    blocks than text carry no words); none is no text. None for any other content,
    which each dialect refuses in its own words."""
    if content is None:
        return []  # e.g. an assistant message that only carries tool calls
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            block["text"]
            for block in content
            if isinstance(block, dict)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
        ]
    return None
