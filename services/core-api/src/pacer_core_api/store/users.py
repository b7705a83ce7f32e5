"""Users and refresh tokens in Postgres."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

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


async def store_refresh_token(
    conn: asyncpg.Connection,
    *,
    user_id: UUID,
    family_id: UUID,
    token_hash: bytes,
    ttl_s: int,
) -> None:
    await conn.execute(
        """INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
           VALUES ($1, $2, $3, now() + make_interval(secs => $4))""",
        user_id,
        family_id,
        token_hash,
        float(ttl_s),
    )


@dataclass(frozen=True, slots=True)
class RefreshTokenUse:
    user_id: UUID
    family_id: UUID
    outcome: str  # "ok", "expired", "reused"


async def consume_refresh_token(
    conn: asyncpg.Connection, token_hash: bytes
) -> RefreshTokenUse | None:
    """Revoke the presented token if it is live; say what happened.

    The UPDATE ... WHERE revoked_at IS NULL makes two concurrent refreshes with
    the same token race safely: only one sees a row come back as "ok".
    """
    row = await conn.fetchrow(
        """UPDATE refresh_tokens SET revoked_at = now()
           WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
           RETURNING user_id, family_id""",
        token_hash,
    )
    if row is not None:
        return RefreshTokenUse(row["user_id"], row["family_id"], "ok")
    row = await conn.fetchrow(
        "SELECT user_id, family_id, revoked_at FROM refresh_tokens WHERE token_hash = $1",
        token_hash,
    )
    if row is None:
        return None
    outcome = "reused" if row["revoked_at"] is not None else "expired"
    return RefreshTokenUse(row["user_id"], row["family_id"], outcome)


async def revoke_family(conn: asyncpg.Connection, family_id: UUID) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
        family_id,
    )


async def family_of(conn: asyncpg.Connection, token_hash: bytes) -> UUID | None:
    family: UUID | None = await conn.fetchval(
        "SELECT family_id FROM refresh_tokens WHERE token_hash = $1", token_hash
    )
    return family
