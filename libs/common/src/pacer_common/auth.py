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
from typing import Literal
from uuid import UUID

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from starlette.requests import Request

from pacer_common.errors import Forbidden, Unauthorized

ALGORITHM = "EdDSA"
Role = Literal["athlete", "admin"]
Tier = Literal["free", "paid"]


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
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The access token has expired.", code="token_expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("The access token is invalid.", code="invalid_token") from None
        if claims.get("typ") != "access":
            raise Unauthorized("The access token is invalid.", code="invalid_token")
        role, tier = claims.get("role"), claims.get("tier")
        try:
            user_id = UUID(claims["sub"])
        except (ValueError, TypeError, AttributeError):
            raise Unauthorized("The access token is invalid.", code="invalid_token") from None
        if role not in ("athlete", "admin") or tier not in ("free", "paid"):
            raise Unauthorized("The access token is invalid.", code="invalid_token")
        return Principal(user_id=user_id, role=role, tier=tier), float(claims["exp"])


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
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


def require_admin(request: Request) -> Principal:
    principal = require_user(request)
    if not principal.is_admin:
        raise Forbidden("This needs the admin role.")
    return principal
