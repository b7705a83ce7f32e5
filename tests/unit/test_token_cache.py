"""TokenVerifier's cache of verified tokens: hits, expiry at ``exp``, the size bound.

Tokens are signed here with a fresh Ed25519 key; the verifier's clock is a
stand-in so that expiry is tested at the exact second, with no sleeping.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fixtures import tokens
from pacer_common.auth import Principal, TokenVerifier
from pacer_common.errors import Unauthorized

ISSUER = "pacer-test"
AUDIENCE = "pacer-test-api"


class Clock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


class CountingVerifier(TokenVerifier):
    """The real verifier, counting how often it checks a signature (a cache miss)."""

    checks = 0

    def _verify_signature_and_claims(self, token: str) -> tuple[Principal, float]:
        self.checks += 1
        return super()._verify_signature_and_claims(token)


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def sign(key: Ed25519PrivateKey, exp: int, **overrides: Any) -> str:
    claims = tokens.access_claims(ISSUER, AUDIENCE, str(uuid.uuid4()), exp=exp, **overrides)
    return tokens.sign(key, claims)


def verifier(key: Ed25519PrivateKey, clock: Clock) -> CountingVerifier:
    return CountingVerifier(key.public_key(), issuer=ISSUER, audience=AUDIENCE, clock=clock)


def test_a_token_seen_again_is_not_checked_again(key: Ed25519PrivateKey) -> None:
    exp = int(time.time()) + 600
    clock = Clock(exp - 100)
    tokens = verifier(key, clock)
    token = sign(key, exp, role="admin", tier="paid")

    first = tokens.verify(token)
    again = tokens.verify(token)

    assert first == again
    assert (first.role, first.tier, first.is_admin) == ("admin", "paid", True)
    assert tokens.checks == 1


def test_the_cache_forgets_a_token_at_its_exp_not_a_second_later(key: Ed25519PrivateKey) -> None:
    exp = int(time.time()) + 600
    clock = Clock(exp - 1)
    tokens = verifier(key, clock)
    token = sign(key, exp)
    tokens.verify(token)

    clock.now_s = exp - 0.001
    tokens.verify(token)
    assert tokens.checks == 1  # still before exp: served from the cache

    clock.now_s = exp
    tokens.verify(token)
    assert tokens.checks == 2  # at exp exactly: checked again (PyJWT's clock is the real one)


def test_a_token_refused_is_never_remembered(key: Ed25519PrivateKey) -> None:
    tokens = verifier(key, Clock(time.time()))
    wrong_audience = sign(key, int(time.time()) + 600, aud="someone-else")

    for _ in range(2):
        with pytest.raises(Unauthorized) as refused:
            tokens.verify(wrong_audience)
        assert refused.value.code == "invalid_token"
    assert tokens.checks == 2


def test_different_tokens_of_one_user_are_cached_apart(key: Ed25519PrivateKey) -> None:
    tokens = verifier(key, Clock(time.time()))
    subject = str(uuid.uuid4())
    free = sign(key, int(time.time()) + 600, sub=subject, tier="free")
    paid = sign(key, int(time.time()) + 600, sub=subject, tier="paid")

    assert tokens.verify(free).tier == "free"
    assert tokens.verify(paid).tier == "paid"
    assert tokens.verify(free).tier == "free"
    assert tokens.checks == 2


def test_a_full_cache_drops_its_oldest_token_first(key: Ed25519PrivateKey) -> None:
    tokens = verifier(key, Clock(time.time()))
    exp = int(time.time()) + 600
    # One more than fits: the first one signed is the one pushed out.
    signed = [sign(key, exp) for _ in range(TokenVerifier.CACHE_SIZE + 1)]
    for token in signed:
        tokens.verify(token)
    assert tokens.checks == len(signed)

    tokens.verify(signed[1])
    tokens.verify(signed[-1])
    assert tokens.checks == len(signed)  # both still cached
    tokens.verify(signed[0])
    assert tokens.checks == len(signed) + 1  # dropped when the last one came in
