"""The topics admin API: list, read (by id or slug) and change a topic, admin only;
every bad input is a 4xx in the JSON error shape and changes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from fixtures.core_api import Athlete, register_and_login
from fixtures.errors import assert_error
from pacer_common.llm import MODEL_REGISTRY
from pacer_common.topics import OnboardingResult

SEEDED = ["onboarding", "race_debrief"]


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> Athlete:
    return await register_and_login(client, email="boss@example.com")  # in ADMIN_EMAILS


async def topic_id(pool: asyncpg.Pool, slug: str) -> str:
    return str(await pool.fetchval("SELECT id FROM topics WHERE slug = $1", slug))


async def topics_rows(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM topics ORDER BY slug")
    return [dict(row) for row in rows]


@pytest.fixture
async def seeded(pg_pool: asyncpg.Pool, clean_state: None) -> None:
    """clean_state truncates every table, the migration's seed rows included: put them back."""
    await pg_pool.execute(
        """INSERT INTO topics (slug, title, system_prompt, conversation_config, result_schema) VALUES
           ('onboarding', 'Getting to know you', 'Interview the athlete. End with [[END_SESSION]].',
            '{"extraction_model_code": "CLAUDE_HAIKU", "max_turns": 8}', 'onboarding'),
           ('race_debrief', 'Race debrief', 'Debrief the race. End with [[END_SESSION]].',
            '{"extraction_model_code": "CLAUDE_HAIKU", "max_turns": 8}', 'race_debrief')"""
    )


async def test_list_and_get_topics_by_id_and_by_slug(
    client: httpx.AsyncClient, admin: Athlete, pg_pool: asyncpg.Pool, seeded: None
) -> None:
    listed = await client.get("/v1/admin/topics", headers=admin.headers)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [item["slug"] for item in items] == SEEDED
    onboarding = items[0]
    assert onboarding["conversation_config"] == {
        "extraction_model_code": "CLAUDE_HAIKU",
        "max_turns": 8,
    }
    assert onboarding["result_schema"] == "onboarding"
    assert onboarding["result_json_schema"] == OnboardingResult.model_json_schema()

    by_id = await client.get(f"/v1/admin/topics/{onboarding['id']}", headers=admin.headers)
    by_slug = await client.get("/v1/admin/topics/onboarding", headers=admin.headers)
    assert by_id.status_code == by_slug.status_code == 200
    assert by_id.json() == by_slug.json() == onboarding


async def test_put_merges_the_config_patch_and_keeps_the_rest(
    client: httpx.AsyncClient, admin: Athlete, pg_pool: asyncpg.Pool, seeded: None
) -> None:
    key = await topic_id(pg_pool, "onboarding")
    before = (await client.get(f"/v1/admin/topics/{key}", headers=admin.headers)).json()
    changed = await client.put(
        f"/v1/admin/topics/{key}",
        json={"conversation_config": {"extraction_model_code": "GPT_MINI"}},
        headers=admin.headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["conversation_config"] == {"extraction_model_code": "GPT_MINI", "max_turns": 8}
    assert (body["title"], body["system_prompt"]) == (before["title"], before["system_prompt"])
    assert body["updated_at"] > before["updated_at"]
    stored = await pg_pool.fetchval(
        "SELECT conversation_config FROM topics WHERE id = $1", uuid.UUID(key)
    )
    assert json.loads(stored) == {"extraction_model_code": "GPT_MINI", "max_turns": 8}
    # The other topic is untouched.
    other = (await client.get("/v1/admin/topics/race_debrief", headers=admin.headers)).json()
    assert other["conversation_config"]["extraction_model_code"] == "CLAUDE_HAIKU"

    # By slug, max_turns alone: the model code set above stays.
    again = await client.put(
        "/v1/admin/topics/onboarding",
        json={
            "conversation_config": {"max_turns": 12},
            "title": "Welcome",
            "system_prompt": "Ask.\nEnd.",
        },
        headers=admin.headers,
    )
    assert again.status_code == 200, again.text
    assert again.json()["conversation_config"] == {
        "extraction_model_code": "GPT_MINI",
        "max_turns": 12,
    }
    assert (again.json()["title"], again.json()["system_prompt"]) == ("Welcome", "Ask.\nEnd.")


async def test_an_unknown_model_code_is_422_listing_the_valid_codes(
    client: httpx.AsyncClient, admin: Athlete, pg_pool: asyncpg.Pool, seeded: None
) -> None:
    before = await topics_rows(pg_pool)
    response = await client.put(
        "/v1/admin/topics/onboarding",
        json={"conversation_config": {"extraction_model_code": "GPT_5_TURBO"}},
        headers=admin.headers,
    )
    error = assert_error(response, 422, "validation_error")
    for code in MODEL_REGISTRY:
        assert code in error["message"], error["message"]
    assert error["details"][0]["field"] == "conversation_config.extraction_model_code"
    assert await topics_rows(pg_pool) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/admin/topics"),
        ("GET", "/v1/admin/topics/onboarding"),
        ("PUT", "/v1/admin/topics/onboarding"),
    ],
)
async def test_topic_routes_need_a_token_and_the_admin_role(
    client: httpx.AsyncClient,
    athlete: Athlete,
    pg_pool: asyncpg.Pool,
    seeded: None,
    method: str,
    path: str,
) -> None:
    before = await topics_rows(pg_pool)
    body = {"conversation_config": {"extraction_model_code": "GPT_MINI"}}
    anonymous = await client.request(method, path, json=body if method == "PUT" else None)
    assert_error(anonymous, 401, "unauthorized")
    athlete_call = await client.request(
        method, path, json=body if method == "PUT" else None, headers=athlete.headers
    )
    assert_error(athlete_call, 403, "forbidden")
    assert await topics_rows(pg_pool) == before


@pytest.mark.parametrize(
    ("topic", "status", "code"),
    [
        ("Onboarding", 422, "validation_error"),  # slugs are lower case
        ("not-a-slug", 422, "validation_error"),
        ("1onboarding", 422, "validation_error"),
        ("a" * 65, 422, "validation_error"),
        ("%20", 422, "validation_error"),
        ("12345678-1234-1234-1234-12345678901", 422, "validation_error"),  # one digit short
        (str(uuid.uuid4()), 404, "not_found"),
        ("no_such_topic", 404, "not_found"),
    ],
)
async def test_bad_topic_ids(
    client: httpx.AsyncClient,
    admin: Athlete,
    pg_pool: asyncpg.Pool,
    seeded: None,
    topic: str,
    status: int,
    code: str,
) -> None:
    before = await topics_rows(pg_pool)
    assert_error(await client.get(f"/v1/admin/topics/{topic}", headers=admin.headers), status, code)
    put = await client.put(
        f"/v1/admin/topics/{topic}",
        json={"conversation_config": {"max_turns": 5}},
        headers=admin.headers,
    )
    assert_error(put, status, code)
    assert await topics_rows(pg_pool) == before


BAD_BODIES: list[tuple[str, Any, str | None]] = [
    ("empty-object", {}, None),
    ("not-an-object", ["title"], None),
    ("a-string", "GPT_MINI", None),
    ("unknown-top-field", {"title": "T", "slug": "renamed"}, "slug"),
    ("result-schema-fixed", {"result_schema": "race_debrief"}, "result_schema"),
    (
        "unknown-config-key",
        {"conversation_config": {"temperature": 0.2}},
        "conversation_config.temperature",
    ),
    ("config-not-object", {"conversation_config": "GPT_MINI"}, "conversation_config"),
    ("config-null", {"conversation_config": None}, "conversation_config"),
    ("title-null", {"title": None}, "title"),
    (
        "code-empty",
        {"conversation_config": {"extraction_model_code": ""}},
        "conversation_config.extraction_model_code",
    ),
    (
        "code-number",
        {"conversation_config": {"extraction_model_code": 7}},
        "conversation_config.extraction_model_code",
    ),
    (
        "code-oversize",
        {"conversation_config": {"extraction_model_code": "X" * 65}},
        "conversation_config.extraction_model_code",
    ),
    (
        "code-lower-case",
        {"conversation_config": {"extraction_model_code": "gpt_mini"}},
        "conversation_config.extraction_model_code",
    ),
    (
        "code-null",
        {"conversation_config": {"extraction_model_code": None}},
        "conversation_config.extraction_model_code",
    ),
    ("turns-zero", {"conversation_config": {"max_turns": 0}}, "conversation_config.max_turns"),
    ("turns-too-many", {"conversation_config": {"max_turns": 51}}, "conversation_config.max_turns"),
    ("turns-string", {"conversation_config": {"max_turns": "8"}}, "conversation_config.max_turns"),
    ("turns-bool", {"conversation_config": {"max_turns": True}}, "conversation_config.max_turns"),
    ("turns-float", {"conversation_config": {"max_turns": 8.5}}, "conversation_config.max_turns"),
    ("title-empty", {"title": ""}, "title"),
    ("title-oversize", {"title": "T" * 101}, "title"),
    ("title-newline", {"title": "Two\nlines"}, "title"),
    ("title-invisible", {"title": "\u200b"}, "title"),
    ("prompt-oversize", {"system_prompt": "p" * 8001}, "system_prompt"),
    ("prompt-nul", {"system_prompt": "Ask\x00"}, "system_prompt"),
    ("prompt-number", {"system_prompt": 1}, "system_prompt"),
]


@pytest.mark.parametrize(
    ("body", "field"), [(b, f) for _, b, f in BAD_BODIES], ids=[n for n, _, _ in BAD_BODIES]
)
async def test_bad_bodies_are_422_and_change_nothing(
    client: httpx.AsyncClient,
    admin: Athlete,
    pg_pool: asyncpg.Pool,
    seeded: None,
    body: Any,
    field: str | None,
) -> None:
    before = await topics_rows(pg_pool)
    response = await client.put("/v1/admin/topics/onboarding", json=body, headers=admin.headers)
    error = assert_error(response, 422, "validation_error")
    if field is not None:
        assert field in [detail["field"] for detail in error["details"]], error
    assert await topics_rows(pg_pool) == before


async def test_malformed_oversize_and_wrong_type_bodies(
    client: httpx.AsyncClient, admin: Athlete, pg_pool: asyncpg.Pool, seeded: None
) -> None:
    before = await topics_rows(pg_pool)
    path = "/v1/admin/topics/onboarding"
    json_headers = {**admin.headers, "Content-Type": "application/json"}
    assert_error(
        await client.put(path, content=b'{"title": ', headers=json_headers), 400, "malformed_json"
    )
    assert_error(
        await client.put(
            path, content=b"title=x", headers={**admin.headers, "Content-Type": "text/plain"}
        ),
        415,
        "unsupported_media_type",
    )
    huge = json.dumps({"system_prompt": "p" * 70_000}).encode()  # over MAX_REQUEST_BODY_BYTES
    assert_error(
        await client.put(path, content=huge, headers=json_headers), 413, "payload_too_large"
    )
    assert await topics_rows(pg_pool) == before


async def test_a_deleted_admin_account_gets_401(
    client: httpx.AsyncClient, admin: Athlete, pg_pool: asyncpg.Pool, seeded: None
) -> None:
    await pg_pool.execute("DELETE FROM users WHERE id = $1", uuid.UUID(admin.id))
    for method in ("GET", "PUT"):
        response = await client.request(
            method,
            "/v1/admin/topics/onboarding",
            json={"title": "Gone"} if method == "PUT" else None,
            headers=admin.headers,
        )
        assert response.status_code == 401, response.text
    assert (await client.get("/v1/admin/topics", headers=admin.headers)).status_code == 401
