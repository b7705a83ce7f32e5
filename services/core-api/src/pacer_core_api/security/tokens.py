"""Issuing access tokens (EdDSA JWTs) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from pacer_common.auth import ALGORITHM, Principal

REFRESH_TOKEN_BYTES = 32


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


class AccessTokenIssuer:
    def __init__(
        self, private_key: Ed25519PrivateKey, *, issuer: str, audience: str, ttl_s: int
    ) -> None:
        self._private_key = private_key
        self._issuer = issuer
        self._audience = audience
        self.ttl_s = ttl_s

    def issue(self, principal: Principal) -> str:
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(principal.user_id),
            "iat": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
            "typ": "access",
            "role": principal.role,
            "tier": principal.tier,
        }
        return jwt.encode(claims, self._private_key, algorithm=ALGORITHM)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def refresh_token_hash(token: str) -> bytes:
    # A fast hash is right here: the token is 256 random bits, not a password.
    return hashlib.sha256(token.encode("utf-8")).digest()
