"""Text checks shared by every service's request schemas.

Postgres text cannot hold NUL, and other control characters in user text are
never intended; they are refused with a 422 rather than failing in the driver.
"""

from __future__ import annotations

import datetime as dt
import unicodedata


def is_control(char: str) -> bool:
    # Category Cc: C0 (NUL..US), DEL and the C1 range (U+0080..U+009F), not just ord < 32.
    return unicodedata.category(char) == "Cc"


# Bidi embeddings, overrides (U+202A..U+202E) and isolates (U+2066..U+2069):
# invisible, and they redraw the text after them in another order (U+202E shows
# "gnp.exe" as "exe.png"), in every list, log and prompt a name reaches. A
# right-to-left script needs none of them: its letters carry their direction.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# U+2028 and U+2029 (categories Zl, Zp) break a line wherever the text is drawn.
LINE_SEPARATORS = frozenset("\u2028\u2029")


def one_line(value: str) -> str:
    """For names and titles: shown on one line, in lists and in prompts."""
    if any(is_control(char) for char in value):
        raise ValueError("must not contain control characters")
    if any(char in LINE_SEPARATORS for char in value):
        raise ValueError("must not contain line or paragraph separators")
    if any(char in BIDI_CONTROLS for char in value):
        raise ValueError("must not contain bidirectional embedding, override or isolate controls")
    return value


def free_text(value: str) -> str:
    """For notes and messages: tabs and line breaks are fine."""
    if any(is_control(char) and char not in "\t\n\r" for char in value):
        raise ValueError("must not contain control characters other than tabs and newlines")
    return value


# Letters, numbers, punctuation and symbols; not separators, controls, format
# characters (zero-width, bidi, tags), marks without a base, unassigned or private.
_VISIBLE_CATEGORIES = frozenset("LNPS")
# Assigned to visible categories, but drawn as blank space.
_BLANK_LOOKALIKES = frozenset("\u115f\u1160\u2800\u3164\uffa0")


def has_visible(value: str) -> str:
    """For messages: at least one character a reader can see (``"\\u200b"`` has none)."""
    for char in value:
        if unicodedata.category(char)[0] in _VISIBLE_CATEGORIES and char not in _BLANK_LOOKALIKES:
            return value
    raise ValueError("must contain at least one visible character")


def in_utc(value: dt.datetime) -> dt.datetime:
    """For instants: the same moment in UTC, or a ValueError (a 422) if it has none.

    9999-12-31T23:59:59-23:59 is a valid datetime but year 10000 in UTC, which the
    database driver overflows on (a 500) when it converts it.
    """
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("must fall between years 1 and 9999 in UTC") from None
