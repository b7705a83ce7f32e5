"""Every claim Pacer issues in an access token is required, with its type, by every service.

The verifier is shared (pacer_common.auth), so each forged token is sent to
core-api and to the coach, over HTTP. The tokens are signed with the real
signing key: only the claims are wrong, so only the claim checks can refuse them.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fixtures.coach import Coach
from fixtures.core_api import Athlete, CoreApi
from fixtures.tokens import ISSUED_CLAIMS, access_claims, load_signing_key, sign

# A read on each service that needs nothing but a valid token.
PROBES = {"core-api": "/v1/checkins", "coach": "/v1/coach/conversations"}
_MISSING = object()


def good_claims(core_api: CoreApi, subject: str) -> dict[str, Any]:
    return access_claims(core_api.settings.JWT_ISSUER, core_api.settings.JWT_AUDIENCE, subject)


def wrong_types(core_api: CoreApi, subject: str) -> dict[str, dict[str, Any]]:
    now = int(time.time())
    return {
        "exp-as-string": {"exp": str(now + 300)},
        "exp-as-float": {"exp": now + 300.5},
        "iat-as-bool": {"iat": True},
        "iat-as-string": {"iat": str(now)},
        "iat-as-null": {"iat": None},
        "jti-as-number": {"jti": 12345},
        "jti-empty": {"jti": ""},
        "sub-as-number": {"sub": 42},
        "sub-uuid-without-dashes": {"sub": uuid.UUID(subject).hex},
        "aud-as-list": {"aud": [core_api.settings.JWT_AUDIENCE]},
        "typ-as-list": {"typ": ["access"]},
        "role-as-list": {"role": ["athlete"]},
        "tier-as-number": {"tier": 1},
        "nbf-as-string": {"nbf": str(now - 10)},
    }


@pytest.fixture(scope="module")
def signing_key(jwt_key_files: tuple[Path, Path]) -> Ed25519PrivateKey:
    return load_signing_key(jwt_key_files[0])


async def answers(base_url: str, path: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        return await http.get(path, headers={"Authorization": f"Bearer {token}"})


def base_urls(core_api: CoreApi, coach: Coach) -> dict[str, str]:
    return {"core-api": core_api.base_url, "coach": coach.base_url}


def assert_invalid_token(response: httpx.Response, case: str) -> None:
    assert response.status_code == 401, (case, response.text)
    assert response.headers["content-type"].startswith("application/json"), case
    error = response.json()["error"]
    assert error["code"] == "invalid_token", (case, error)
    assert error["message"], case
    assert response.headers["www-authenticate"].lower().startswith("bearer"), case


@pytest.mark.parametrize("service", sorted(PROBES))
async def test_the_good_claims_are_accepted(
    core_api: CoreApi, coach: Coach, runner: Athlete, signing_key: Ed25519PrivateKey, service: str
) -> None:
    """Guards the 401 cases below: the same claims, unchanged, pass."""
    token = sign(signing_key, good_claims(core_api, runner.id))
    response = await answers(base_urls(core_api, coach)[service], PROBES[service], token)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("service", sorted(PROBES))
@pytest.mark.parametrize("claim", ISSUED_CLAIMS)
async def test_a_token_missing_an_issued_claim_is_refused(
    core_api: CoreApi,
    coach: Coach,
    runner: Athlete,
    signing_key: Ed25519PrivateKey,
    service: str,
    claim: str,
) -> None:
    claims = good_claims(core_api, runner.id)
    del claims[claim]
    response = await answers(
        base_urls(core_api, coach)[service], PROBES[service], sign(signing_key, claims)
    )
    assert_invalid_token(response, f"no {claim}")


@pytest.mark.parametrize("service", sorted(PROBES))
async def test_a_token_with_a_claim_of_the_wrong_type_is_refused(
    core_api: CoreApi, coach: Coach, runner: Athlete, signing_key: Ed25519PrivateKey, service: str
) -> None:
    for case, overrides in wrong_types(core_api, runner.id).items():
        claims = {**good_claims(core_api, runner.id), **overrides}
        response = await answers(
            base_urls(core_api, coach)[service], PROBES[service], sign(signing_key, claims)
        )
        assert_invalid_token(response, case)
