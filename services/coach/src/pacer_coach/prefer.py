"""RFC 7240 ``Prefer``: the ``wait`` preference of ``POST /v1/coach/sessions/{id}/complete``.

    >>> wait_preference(["respond-async, wait=5"])
    5
    >>> wait_preference(['wait="3"; x=y', "wait=9"])  # the first instance counts (RFC 7240 §2)
    3
    >>> wait_preference(["handling=lenient"]) is None
    True

Preferences other than ``wait`` are ignored, as the RFC asks. A ``wait`` whose
value is not delta-seconds is refused (400 ``invalid_prefer``) rather than
ignored: the client asked for a bound on its request's time, and answering
after a different one than it wrote would hide its bug. A value above any
bound is valid (the caller caps it and says so in ``Preference-Applied``).
"""

from __future__ import annotations

import re

from pacer_common.errors import BadRequest

# RFC 9111 delta-seconds: digits; a longer run than this is "a very long time"
# (and would be slow to convert to an int), so it is read as the largest value.
_DELTA_SECONDS = re.compile(r"[0-9]+")
_DIGITS_MAX = 10
_LARGEST_S = 2**31
# A comma outside a quoted-string ends a preference.
_SEPARATOR = re.compile(r',(?=(?:[^"]*"[^"]*")*[^"]*$)')


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def wait_preference(headers: list[str]) -> int | None:
    """The ``wait`` of the request's ``Prefer`` header lines, in seconds, or None."""
    for line in headers:
        for preference in _SEPARATOR.split(line):
            token, has_value, value = preference.split(";", 1)[0].partition("=")
            if token.strip().lower() != "wait":
                continue
            value = _unquote(value.strip())
            if not has_value or not _DELTA_SECONDS.fullmatch(value):
                raise BadRequest(
                    "Prefer: wait must be a whole number of seconds, e.g. 'Prefer: wait=5'.",
                    code="invalid_prefer",
                )
            return _LARGEST_S if len(value) > _DIGITS_MAX else int(value)
    return None
