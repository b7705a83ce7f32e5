"""The coach's proposals (``coach_proposals``): created by a proposal tool, decided by the athlete.

::

    pending ─▶ applied      (apply: the change saved as the athlete's own save would)
    pending ─▶ dismissed    (dismiss)
    pending ─▶ expired      (read so once expires_at has passed; the row is not rewritten)

A second apply of an applied proposal, or a second dismiss of a dismissed one,
answers what the first did and changes nothing: the row is locked (``FOR
UPDATE``) while it is decided, so two applies at once save the change once.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from pacer_common.athlete_schemas import ActivityIn, GoalIn, PlanIn
from pacer_common.errors import Conflict, NotFound
from pacer_common.tables.athlete_data import Change, ChangeKind, kind_of, save_change
from pacer_common.web.json_body import validation_failed

ProposalStatus = Literal["pending", "applied", "dismissed", "expired"]
MODELS: dict[str, type[ActivityIn | PlanIn | GoalIn]] = {
    "activity": ActivityIn,
    "plan": PlanIn,
    "goal": GoalIn,
}
_COLUMNS = """id, message_id, step, kind, change, status, result, created_at, expires_at,
    decided_at, (status = 'pending' AND expires_at <= now()) AS expired"""
_NO_PROPOSAL = "No such proposal."


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def proposal_json(row: asyncpg.Record) -> dict[str, Any]:
    """A proposal as the API (and a reply's ``tool`` event) shows it."""
    return {
        "id": str(row["id"]),
        "message_id": str(row["message_id"]),
        "kind": row["kind"],
        "change": json.loads(row["change"]),
        "status": "expired" if row["expired"] else row["status"],
        "result": None if row["result"] is None else json.loads(row["result"]),
        "created_at": _iso(row["created_at"]),
        "expires_at": _iso(row["expires_at"]),
        "decided_at": _iso(row["decided_at"]),
    }


async def create(
    conn: asyncpg.Connection,
    *,
    user_id: UUID,
    message_id: UUID,
    step: int,
    change: Change,
    ttl_s: float,
) -> dict[str, Any]:
    """The proposal of this reply's tool step: created once, the same row ever after."""
    kind: ChangeKind = kind_of(change)
    row = await conn.fetchrow(
        f"""INSERT INTO coach_proposals (user_id, message_id, step, kind, change, expires_at)
            VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
            ON CONFLICT (message_id, step) DO NOTHING RETURNING {_COLUMNS}""",
        user_id,
        message_id,
        step,
        kind,
        change.model_dump_json(exclude_none=True),
        ttl_s,
    )
    if row is None:  # this step's proposal exists already: it is the answer
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM coach_proposals WHERE message_id = $1 AND step = $2",
            message_id,
            step,
        )
    assert row is not None
    return proposal_json(row)


async def list_proposals(
    conn: asyncpg.Connection, user_id: UUID, status: ProposalStatus, limit: int
) -> list[dict[str, Any]]:
    """The athlete's proposals in ``status``, newest first."""
    stored = "pending" if status == "expired" else status
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM coach_proposals
            WHERE user_id = $1 AND status = $2
              AND ($3::text <> 'pending' OR expires_at > now())
              AND ($3::text <> 'expired' OR expires_at <= now())
            ORDER BY created_at DESC, id DESC LIMIT $4""",
        user_id,
        stored,
        status,
        limit,
    )
    return [proposal_json(row) for row in rows]


async def _locked(conn: asyncpg.Connection, user_id: UUID, proposal_id: UUID) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM coach_proposals WHERE id = $1 AND user_id = $2 FOR UPDATE",
        proposal_id,
        user_id,
    )
    if row is None:
        # Someone else's proposal looks exactly like a missing one.
        raise NotFound(_NO_PROPOSAL)
    return row


def _refuse_decided(row: asyncpg.Record, wanted: str) -> None:
    if row["expired"]:
        raise Conflict("This proposal has expired.", code="proposal_expired")
    if row["status"] not in ("pending", wanted):
        raise Conflict(
            f"This proposal was {row['status']} already.", code=f"proposal_{row['status']}"
        )


def validated_change(kind: str, change: dict[str, Any]) -> Change:
    """The stored change, validated again as the athlete's own route would (a 422 if it no
    longer passes: an activity proposed for "now" stays valid, the checks are the same)."""
    try:
        return MODELS[kind].model_validate_json(json.dumps(change))
    except ValidationError as error:
        raise validation_failed(error, "change") from None


async def apply(
    conn: asyncpg.Connection, user_id: UUID, proposal_id: UUID
) -> tuple[dict[str, Any], bool]:
    """(the proposal, True if this call saved its change); run inside a transaction."""
    row = await _locked(conn, user_id, proposal_id)
    _refuse_decided(row, "applied")
    if row["status"] == "applied":
        return proposal_json(row), False
    saved = await save_change(
        conn, user_id, validated_change(row["kind"], json.loads(row["change"]))
    )
    row = await conn.fetchrow(
        f"""UPDATE coach_proposals SET status = 'applied', result = $2, decided_at = now()
            WHERE id = $1 RETURNING {_COLUMNS}""",
        proposal_id,
        json.dumps(saved),
    )
    assert row is not None
    return proposal_json(row), True


async def dismiss(conn: asyncpg.Connection, user_id: UUID, proposal_id: UUID) -> dict[str, Any]:
    """The dismissed proposal; run inside a transaction."""
    row = await _locked(conn, user_id, proposal_id)
    _refuse_decided(row, "dismissed")
    if row["status"] == "pending":
        row = await conn.fetchrow(
            f"""UPDATE coach_proposals SET status = 'dismissed', decided_at = now()
                WHERE id = $1 RETURNING {_COLUMNS}""",
            proposal_id,
        )
        assert row is not None
    return proposal_json(row)
