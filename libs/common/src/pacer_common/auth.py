"""Access tokens: verified by every service with core-api's public key.

core-api signs short-lived EdDSA (Ed25519) JWTs with its private key; any
service holding the public key verifies them without a shared secret and
without calling core-api. Only ``EdDSA`` is accepted, so a token signed with
HS256 (using the public key as a secret) or ``alg: none`` is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, get_args
from uuid import UUID

import asyncpg
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from starlette.requests import Request

from pacer_common.errors import AccountGone, BadRequest, Forbidden, Unauthorized
from pacer_common.tables import users

ALGORITHM = "EdDSA"
Role = Literal["athlete", "admin"]
Tier = Literal["free", "paid"]


def _is_int(value: object) -> bool:
    # bool is an int in Python, not in JSON.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: object) -> bool:
    return isinstance(value, str) and value != ""


def _is_canonical_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return str(UUID(value)) == value
    except ValueError:
        return False


# Every claim core-api's issuer writes (security/tokens.py), and what each must
# be: a token lacking one, or with one of another type, was not made by Pacer.
ISSUED_CLAIMS: dict[str, Callable[[object], bool]] = {
    "iss": _is_text,
    "aud": _is_text,
    "sub": _is_canonical_uuid,
    "iat": _is_int,
    "exp": _is_int,
    "jti": _is_text,
    "typ": lambda value: value == "access",
    "role": lambda value: value in get_args(Role),
    "tier": lambda value: value in get_args(Tier),
}
# Not issued, but standard: checked by PyJWT if present, so typed here too.
OPTIONAL_CLAIMS: dict[str, Callable[[object], bool]] = {"nbf": _is_int}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified access token speaks for."""

    user_id: UUID
    role: Role
    tier: Tier

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


class TokenVerifier:
    """Verifies access tokens, remembering the ones it has verified until they expire.

    A client sends the same token with every request for its whole lifetime;
    checking the Ed25519 signature and parsing the claims again each time was
    a tenth of a home request's CPU. Only tokens that passed every check are
    remembered, under their full text, and never past their ``exp``.
    """

    CACHE_SIZE = 4096

    def __init__(
        self,
        public_key: Ed25519PublicKey,
        *,
        issuer: str,
        audience: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._public_key = public_key
        self._issuer = issuer
        self._audience = audience
        # Seconds since the epoch, as ``exp`` counts them; a test passes its own.
        self._clock = clock
        self._verified: dict[str, tuple[Principal, float]] = {}

    def verify(self, token: str) -> Principal:
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires_at = remembered
            if self._clock() < expires_at:
                return principal
            del self._verified[token]
        principal, expires_at = self._verify_signature_and_claims(token)
        if len(self._verified) >= self.CACHE_SIZE:
            # Oldest first: dicts keep insertion order.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (principal, expires_at)
        return principal

    def _verify_signature_and_claims(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                # strict_aud: a string equal to ours, not a list that contains it.
                options={"require": list(ISSUED_CLAIMS), "strict_aud": True},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The access token has expired.", code="token_expired") from None
        except jwt.PyJWTError:
            raise _invalid_token() from None
        # PyJWT checks exp and iat with int(), so "exp": "9999999999" would pass
        # it; and it checks nothing of the claims it does not know.
        for name, is_valid in (*ISSUED_CLAIMS.items(), *OPTIONAL_CLAIMS.items()):
            if name in claims and not is_valid(claims[name]):
                raise _invalid_token()
        principal = Principal(
            user_id=UUID(claims["sub"]),
            role=cast(Role, claims["role"]),
            tier=cast(Tier, claims["tier"]),
        )
        return principal, float(claims["exp"])


def _invalid_token() -> Unauthorized:
    return Unauthorized("The access token is invalid.", code="invalid_token")


def bearer_token(request: Request) -> str:
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:
        # Which one counts would be up to each server and proxy on the way: refuse
        # rather than pick one (the same value twice too: a client sending two is broken).
        raise BadRequest(
            "Send one Authorization header, not several.", code="duplicate_authorization"
        )
    header = headers[0] if headers else None
    if not header:
        raise Unauthorized("Send an access token: Authorization: Bearer <token>.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use the Bearer scheme: Authorization: Bearer <token>.")
    return token.strip()


def require_user(request: Request) -> Principal:
    """The caller's principal, or 401. Reads the verifier from the lifespan state."""
    verifier: TokenVerifier = request.state.token_verifier
    return verifier.verify(bearer_token(request))


async def require_account(
    conn: asyncpg.Connection, principal: Principal, *, lock: bool = False
) -> None:
    """401 if the principal's account has been deleted since its token was issued.

    A token is verified without the database, so it outlives its account by up
    to its TTL. This is one primary-key probe on the connection the route holds
    anyway (no cache: a deleted account is refused from its next request)::

        principal = require_user(request)
        async with pool.acquire() as conn:
            await require_account(conn, principal)
            ...

    With ``lock`` (inside a transaction) a deletion racing the caller's inserts
    waits for them instead of breaking them (:func:`users.account_exists`).
    """
    if not await users.account_exists(conn, principal.user_id, lock=lock):
        raise AccountGone()


def require_admin(request: Request) -> Principal:
    principal = require_user(request)
    if not principal.is_admin:
        raise Forbidden("This needs the admin role.")
    return principal
