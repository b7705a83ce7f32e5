"""A Redis Stream entry id, ``<ms>-<seq>``: the one parser, for every stream Pacer reads.

Both parts are unsigned 64-bit integers: Redis refuses anything larger, so an id
sent back by a client (``Last-Event-ID``) is checked by value, not only by pattern,
before it reaches a command.

>>> StreamId.parse("1700000000000-3") < StreamId.parse("1700000000001-0")
True
>>> StreamId.parse(f"{2**64}-0")
Traceback (most recent call last):
...
ValueError: not a stream id: '18446744073709551616-0'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PART = 2**64 - 1
# ASCII digits only: `\d` would take any Unicode digit.
_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")


@dataclass(frozen=True, order=True, slots=True)
class StreamId:
    ms: int
    seq: int

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"

    @classmethod
    def parse(cls, raw: str | bytes) -> StreamId:
        """``raw`` as an id; ValueError if it is not one Redis could hold."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        match = _ID.fullmatch(text)
        if match is None or any(int(part) > MAX_PART for part in match.groups()):
            raise ValueError(f"not a stream id: {text!r}")
        return cls(int(match[1]), int(match[2]))

    @property
    def is_max(self) -> bool:
        """Nothing can follow it: an exclusive range from it is an error to Redis."""
        return self == MAX


START = StreamId(0, 0)
MAX = StreamId(MAX_PART, MAX_PART)
