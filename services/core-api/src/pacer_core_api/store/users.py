"""Users and refresh tokens in Postgres."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID, uuid4

import asyncpg

from pacer_common.auth import Principal, Role, Tier


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    email: str
    name: str
    tier: Tier
    role: Role
    created_at: dt.datetime
    password_hash: str

    @property
    def principal(self) -> Principal:
        return Principal(user_id=self.id, role=self.role, tier=self.tier)

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "email": self.email,
            "name": self.name,
            "tier": self.tier,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
        }


_USER_COLUMNS = "id, email, name, tier, role, created_at, password_hash"
_USER_FIELDS = _USER_COLUMNS.split(", ")


def _user(row: asyncpg.Record | None) -> User | None:
    return User(**dict(row)) if row is not None else None


async def create_user(
    conn: asyncpg.Connection, *, email: str, name: str, password_hash: str, role: Role
) -> User | None:
    """Insert a user; None if the email is taken."""
    row = await conn.fetchrow(
        f"""INSERT INTO users (email, name, password_hash, role) VALUES ($1, $2, $3, $4)
            ON CONFLICT ((lower(email))) DO NOTHING RETURNING {_USER_COLUMNS}""",
        email.lower(),
        name,
        password_hash,
        role,
    )
    return _user(row)


async def user_by_email(conn: asyncpg.Connection, email: str) -> User | None:
    row = await conn.fetchrow(
        f"SELECT {_USER_COLUMNS} FROM users WHERE lower(email) = lower($1)", email
    )
    return _user(row)


async def user_by_id(conn: asyncpg.Connection, user_id: UUID) -> User | None:
    row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1", user_id)
    return _user(row)


# --- sessions: refresh-token families --------------------------------------------------------
# A login starts a family (a session); each refresh revokes the presented token
# and issues the next one in the family. Every decision about a family first
# locks its row in refresh_families: concurrent refreshes and logouts of one
# session queue on that lock, and each statement after it (READ COMMITTED: a
# fresh snapshot per statement) sees what the previous holder committed.


async def start_session(
    conn: asyncpg.Connection, *, user_id: UUID, token_hash: bytes, ttl_s: int
) -> UUID:
    """Create a family with its first refresh token; return the family's id."""
    family_id = uuid4()
    # One statement: the foreign key is checked at its end, when both rows exist.
    await conn.execute(
        """WITH family AS (INSERT INTO refresh_families (id, user_id) VALUES ($1, $2))
           INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
           VALUES ($2, $1, $3, now() + make_interval(secs => $4))""",
        family_id,
        user_id,
        token_hash,
        float(ttl_s),
    )
    return family_id


RotationOutcome = Literal["ok", "unknown", "expired", "reused", "revoked"]


@dataclass(frozen=True, slots=True)
class Rotation:
    """What presenting a refresh token did. ``user`` is set only when the outcome is "ok"."""

    outcome: RotationOutcome
    user_id: UUID | None = None
    user: User | None = None


async def _lock_family(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    """Lock the family of the token (waiting for whoever holds it); None if unknown."""
    if not conn.is_in_transaction():
        raise RuntimeError("a family's lock lasts until the end of a transaction: open one")
    return await conn.fetchrow(
        f"""SELECT f.id AS family_id, f.revoked_at AS family_revoked_at,
                   {", ".join("u." + field for field in _USER_FIELDS)}
            FROM refresh_families f JOIN users u ON u.id = f.user_id
            WHERE f.id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
            FOR UPDATE OF f""",
        token_hash,
    )


async def _revoke_family(conn: asyncpg.Connection, family_id: UUID) -> None:
    await conn.execute(
        """WITH family AS (
               UPDATE refresh_families SET revoked_at = coalesce(revoked_at, now())
               WHERE id = $1
           )
           UPDATE refresh_tokens SET revoked_at = now()
           WHERE family_id = $1 AND revoked_at IS NULL""",
        family_id,
    )


async def rotate_refresh_token(
    conn: asyncpg.Connection, *, token_hash: bytes, new_token_hash: bytes, ttl_s: int
) -> Rotation:
    """Trade a live refresh token for the next one of its family, in the caller's transaction.

    A token that was already used (rotated out) revokes its whole family: someone
    holds a copy. Under the family's lock, so two refreshes with one token, or a
    refresh and a logout, are decided in order whatever their timing.
    """
    family = await _lock_family(conn, token_hash)
    if family is None:
        return Rotation("unknown")
    user_id: UUID = family["id"]  # u.id
    if family["family_revoked_at"] is not None:
        return Rotation("revoked", user_id)
    # Read after the lock: a refresh that held it may have just used this token.
    token = await conn.fetchrow(
        """SELECT revoked_at IS NOT NULL AS used, expires_at <= now() AS expired
           FROM refresh_tokens WHERE token_hash = $1""",
        token_hash,
    )
    if token is None:
        return Rotation("unknown")
    if token["used"]:
        await _revoke_family(conn, family["family_id"])
        return Rotation("reused", user_id)
    if token["expired"]:
        return Rotation("expired", user_id)
    await conn.execute(
        """WITH used AS (
               UPDATE refresh_tokens SET revoked_at = now() WHERE token_hash = $1
           )
           INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
           VALUES ($2, $3, $4, now() + make_interval(secs => $5))""",
        token_hash,
        user_id,
        family["family_id"],
        new_token_hash,
        float(ttl_s),
    )
    user = User(**{field: family[field] for field in _USER_FIELDS})
    return Rotation("ok", user_id, user)


async def end_session(conn: asyncpg.Connection, token_hash: bytes) -> bool:
    """Revoke the family of any of its tokens, in the caller's transaction; False if unknown.

    Waits for a refresh of the same family in flight, then revokes the token it issued too.
    """
    family = await _lock_family(conn, token_hash)
    if family is None:
        return False
    await _revoke_family(conn, family["family_id"])
    return True
