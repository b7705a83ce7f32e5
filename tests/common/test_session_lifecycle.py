"""The coaching-session lifecycle's table: the one drawing agrees with it, and so
does the database's CHECK constraint."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pacer_common
from pacer_common import session_lifecycle
from pacer_common.session_lifecycle import STATUSES, TRANSITIONS, Move

MIGRATION = Path(pacer_common.__file__).parent / "migrations" / "0006_sessions.sql"


def test_the_docstring_examples_hold() -> None:
    failures, tried = doctest.testmod(session_lifecycle)
    assert tried > 0 and failures == 0


def test_the_statuses_are_the_tables_check_constraint() -> None:
    check = re.search(r"CHECK \(status IN \(([^)]*)\)\)", MIGRATION.read_text())
    assert check is not None
    assert tuple(re.findall(r"'([a-z_]+)'", check.group(1))) == STATUSES


def test_every_move_goes_between_known_states() -> None:
    for move, transition in TRANSITIONS.items():
        assert set(transition.sources) <= set(STATUSES), move
        assert transition.target in STATUSES, move
    assert set(TRANSITIONS) == set(Move)


def test_the_module_docstring_draws_the_table_as_it_is() -> None:
    """Each row of the docstring's table (move, from, to) is the table's."""
    doc = session_lifecycle.__doc__ or ""
    drawn = {}
    for line in doc.splitlines():
        row = re.match(r"\s+([A-Z]+)\s+(\(new\)|[a-z_]+)\s+([a-z_]+)\s", line)
        if row and row.group(1) in Move.__members__:
            drawn[Move[row.group(1)]] = (row.group(2), row.group(3))
    assert drawn == {
        move: (t.sources[0] if t.sources else "(new)", t.target) for move, t in TRANSITIONS.items()
    }
    # One source state per move, so the row above says it all.
    assert all(len(t.sources) <= 1 for t in TRANSITIONS.values())


def test_only_the_allowed_moves_are_allowed() -> None:
    allowed = {
        (move, status)
        for move in Move
        for status in STATUSES
        if session_lifecycle.allows(move, status)
    }
    assert allowed == {
        (Move.MESSAGE, "active"),
        (Move.CLOSE, "active"),
        (Move.RETRY, "extraction_failed"),
        (Move.COMPLETE, "extracting"),
        (Move.FAIL, "extracting"),
    }
