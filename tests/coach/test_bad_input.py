"""Bad input to the coach: a clear 4xx in the error shape, and nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fixtures.core_api import Athlete
from fixtures.tokens import access_claims, sign


async def _counts(pool: asyncpg.Pool) -> tuple[int, int, int, int]:
    row = await pool.fetchrow(
        """SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages),
                  (SELECT coalesce(sum(used), 0) FROM chat_quota), (SELECT count(*) FROM llm_usage)"""
    )
    assert row is not None
    return row[0], row[1], row[2], row[3]


BODIES: list[tuple[str, Any, int]] = [
    ("malformed JSON", b'{"message": ', 400),
    ("array", b"[1, 2]", 422),
    ("missing message", {}, 422),
    ("empty message", {"message": ""}, 422),
    ("blank message", {"message": "   "}, 422),
    ("number message", {"message": 42}, 422),
    ("extra field", {"message": "hi", "model": "CLAUDE_SONNET"}, 422),
    ("too long", {"message": "x" * 4001}, 422),
    ("NUL character", {"message": "hi\x00there"}, 422),
    (
        "conversation id not a uuid",
        {"message": "hi", "conversation_id": "42; DROP TABLE messages"},
        422,
    ),
    ("unknown conversation", {"message": "hi", "conversation_id": str(uuid.uuid4())}, 404),
]


@pytest.mark.parametrize(("body", "status"), [b[1:] for b in BODIES], ids=[b[0] for b in BODIES])
async def test_bad_chat_bodies(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool, body: Any, status: int
) -> None:
    before = await _counts(pg_pool)
    if isinstance(body, bytes):
        response = await coach_client.post(
            "/v1/coach/chat",
            content=body,
            headers={**runner.headers, "Content-Type": "application/json"},
        )
    else:
        response = await coach_client.post("/v1/coach/chat", json=body, headers=runner.headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"]
    assert await _counts(pg_pool) == before


async def test_wrong_content_type_and_oversize_body(
    coach_client: httpx.AsyncClient, runner: Athlete, pg_pool: asyncpg.Pool
) -> None:
    before = await _counts(pg_pool)
    text = await coach_client.post("/v1/coach/chat", content=b"hi", headers=runner.headers)
    assert text.status_code == 415
    huge = await coach_client.post(
        "/v1/coach/chat", json={"message": "x" * 200_000}, headers=runner.headers
    )
    assert huge.status_code == 413
    assert await _counts(pg_pool) == before


def _token(key: Any, algorithm: str = "EdDSA", **claims: Any) -> str:
    base = access_claims("pacer-core-api", "pacer", str(uuid.uuid4()), iat=1, exp=4_000_000_000)
    return sign(key, {**base, **claims}, algorithm)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic abc",
        "Bearer",
        "Bearer not-a-token",
        f"Bearer {_token(Ed25519PrivateKey.generate())}",
        "Bearer " + _token(Ed25519PrivateKey.generate(), exp=10),
    ],
    ids=["missing", "basic", "empty", "garbage", "forged", "expired-and-forged"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/coach/chat"),
        ("GET", "/v1/coach/conversations"),
        ("GET", f"/v1/coach/conversations/{uuid.uuid4()}"),
    ],
)
async def test_tokens_are_verified_by_the_coach_itself(
    coach_client: httpx.AsyncClient,
    pg_pool: asyncpg.Pool,
    authorization: str | None,
    method: str,
    path: str,
) -> None:
    before = await _counts(pg_pool)
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await coach_client.request(method, path, json={"message": "hi"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] in {"unauthorized", "invalid_token", "token_expired"}
    assert await _counts(pg_pool) == before


async def test_an_expired_token_says_so(
    coach_client: httpx.AsyncClient, jwt_key_files: tuple[Any, Any]
) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(jwt_key_files[0].read_bytes(), password=None)
    expired = _token(key, iat=1, exp=100)
    response = await coach_client.get(
        "/v1/coach/conversations", headers={"Authorization": f"Bearer {expired}"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


async def test_someone_elses_conversation_is_not_found(
    coach_client: httpx.AsyncClient, runner: Athlete, core_api: Any, sim: Any, pg_pool: asyncpg.Pool
) -> None:
    from fixtures.coach import chat
    from fixtures.core_api import register_and_login

    mine = await chat(coach_client, runner)
    conversation_id = mine.events[0].data["conversation_id"]
    async with httpx.AsyncClient(base_url=core_api.base_url) as http:
        other = await register_and_login(http)
    peek = await coach_client.get(
        f"/v1/coach/conversations/{conversation_id}", headers=other.headers
    )
    assert peek.status_code == 404
    before = await _counts(pg_pool)
    hijack = await coach_client.post(
        "/v1/coach/chat",
        json={"message": "hi", "conversation_id": conversation_id},
        headers=other.headers,
    )
    assert hijack.status_code == 404
    assert await _counts(pg_pool) == before
    listed = await coach_client.get("/v1/coach/conversations", headers=other.headers)
    assert listed.json() == {"items": []}
    bad_id = await coach_client.get("/v1/coach/conversations/not-a-uuid", headers=runner.headers)
    assert bad_id.status_code == 422
    bad_query = await coach_client.get("/v1/coach/conversations?limit=0", headers=runner.headers)
    assert bad_query.status_code == 422
