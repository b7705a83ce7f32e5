"""Bad input on every endpoint: always a 4xx in the JSON error shape, and nothing written.

Each case names one thing wrong with an otherwise valid request, so that the 4xx
can only come from that one thing. After each bad request the tables must be
exactly as they were: same row counts and same contents.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fixtures.core_api import Athlete, CoreApi, register_and_login
from fixtures.core_api_endpoints import (
    ACTIVITY_EDIT,
    BY_NAME,
    ENDPOINTS,
    ROW_ENDPOINTS,
    UNKNOWN_ID,
    Endpoint,
)
from fixtures.errors import assert_error
from fixtures.tokens import access_claims, load_signing_key, sign

TABLES = ("users", "checkins", "activities", "plans", "goals", "refresh_tokens")
BODY_LIMIT_BYTES = 64 * 1024
IN_TWO_DAYS = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)).isoformat()
IN_THREE_DAYS = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat(timespec="seconds")


# --- the database must not change ----------------------------------------------------------

_SNAPSHOT_SQL = "SELECT " + ", ".join(
    f"(SELECT count(*) FROM {table}) AS {table}, "
    f"(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t)"
    f" AS {table}_md5"
    for table in TABLES
)


async def snapshot(pool: asyncpg.Pool) -> dict[str, Any]:
    """Row counts and a fingerprint of every row, for each table."""
    async with pool.acquire() as conn:
        return dict(await conn.fetchrow(_SNAPSHOT_SQL))


def counts(state: Mapping[str, Any]) -> dict[str, int]:
    return {table: state[table] for table in TABLES}


# --- one client, one athlete -----------------------------------------------------------------
# Hundreds of cases share one client and one athlete rather than taking the
# `client` fixture, which empties every table per test: a bad request writes
# nothing, every case asserts exactly that, so sharing is safe, and much faster.


@pytest.fixture(scope="module")
async def http(core_api: CoreApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=core_api.base_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def registered() -> dict[str, Athlete]:
    return {}


@pytest.fixture
async def someone(
    http: httpx.AsyncClient, pg_pool: asyncpg.Pool, registered: dict[str, Athlete]
) -> Athlete:
    """The module's athlete; registered again when a `client` test has emptied the tables."""
    known = registered.get("athlete")
    if known is not None:
        async with pg_pool.acquire() as conn:
            if await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", uuid.UUID(known.id)
            ):
                return known
    registered["athlete"] = await register_and_login(http)
    return registered["athlete"]


# --- valid requests, each made bad in exactly one way --------------------------------------


WRONG_TYPES = {
    "str": [("number", 123), ("bool", True), ("array", ["text"]), ("object", {"a": "b"})],
    "int": [("string", "3"), ("bool", True), ("fraction", 2.5), ("array", [3])],
    "float": [("string", "7.5"), ("bool", False), ("array", [7.5]), ("object", {"v": 1})],
}


@dataclass(frozen=True)
class Bad:
    id: str
    method: str
    path: str
    authed: bool
    status: int
    code: str
    # Exactly one way of giving the body: a JSON value (or a function of the
    # signed-in athlete returning one), or raw bytes.
    json: Any = None
    content: bytes | None = None
    content_type: str | None = "application/json"
    params: Mapping[str, str] | None = None
    # A details entry must name this field.
    field: str | None = None


def _case(endpoint: Endpoint, what: str, status: int, code: str, **request: Any) -> Bad:
    name = f"{endpoint.name}-{what}"
    return Bad(name, endpoint.method, endpoint.path, endpoint.authed, status, code, **request)


def body_case(
    endpoint: Endpoint,
    what: str,
    body: Any,
    *,
    status: int = 422,
    code: str = "validation_error",
    field: str | None = None,
) -> Bad:
    return _case(endpoint, what, status, code, json=body, field=field)


def raw_case(
    endpoint: Endpoint,
    what: str,
    content: bytes,
    *,
    status: int = 400,
    code: str = "malformed_json",
    content_type: str | None = "application/json",
) -> Bad:
    return _case(endpoint, what, status, code, content=content, content_type=content_type)


def with_field(endpoint: Endpoint, name: str, value: Any) -> dict[str, Any]:
    return {**endpoint.valid, name: value}


def generic_cases(endpoint: Endpoint) -> Iterator[Bad]:
    """What is wrong the same way for every endpoint: syntax, shape, types, media type."""
    valid = json.dumps(endpoint.valid).encode()
    # Malformed JSON: 400.
    yield raw_case(endpoint, "truncated", valid[:-1])
    yield raw_case(endpoint, "trailing-garbage", valid + b" x")
    yield raw_case(endpoint, "two-objects", valid + valid)
    yield raw_case(endpoint, "empty-body", b"")
    yield raw_case(endpoint, "whitespace-body", b"  \n")
    yield raw_case(endpoint, "single-quotes", valid.replace(b'"', b"'"))
    yield raw_case(endpoint, "trailing-comma", valid[:-1] + b",}")
    yield raw_case(endpoint, "invalid-utf8", valid[:-1] + b', "x": "\xff\xfe"}')
    yield raw_case(endpoint, "lone-surrogate", valid[:-1] + b', "x": "\\ud800"}')
    yield raw_case(endpoint, "deeply-nested", b"[" * 20_000 + b"]" * 20_000)
    # Not an object: 422. (A bare NaN is not JSON either, but the parser reads it as a number.)
    yield raw_case(endpoint, "bare-NaN", b"NaN", status=422, code="validation_error")
    for what, value in [
        ("array", [dict(endpoint.valid)]),
        ("string", "hello"),
        ("number", 42),
        ("null", None),
        ("true", True),
    ]:
        yield raw_case(
            endpoint,
            f"{what}-not-object",
            json.dumps(value).encode(),
            status=422,
            code="validation_error",
        )
    yield body_case(
        endpoint, "unknown-field", with_field(endpoint, "is_admin", True), field="is_admin"
    )
    for name in endpoint.valid:
        rest = {key: value for key, value in endpoint.valid.items() if key != name}
        yield body_case(endpoint, f"missing-{name}", rest, field=name)
        yield body_case(endpoint, f"null-{name}", with_field(endpoint, name, None), field=name)
    for name, kind in endpoint.kinds.items():
        for what, value in WRONG_TYPES[kind]:
            yield body_case(
                endpoint, f"{name}-{what}", with_field(endpoint, name, value), field=name
            )
    for name, kind in endpoint.kinds.items():
        if kind == "float":
            for what, literal in [
                ("NaN", b"NaN"),
                ("Infinity", b"Infinity"),
                ("overflow", b"1e400"),
            ]:
                body = json.dumps(with_field(endpoint, name, 0)).encode()
                body = body.replace(f'"{name}": 0'.encode(), f'"{name}": '.encode() + literal)
                assert literal in body
                yield raw_case(
                    endpoint, f"{name}-{what}", body, status=422, code="validation_error"
                )
    # Wrong or missing media type: 415.
    for what, content_type in [
        ("no-content-type", None),
        ("text-plain", "text/plain"),
        ("form-urlencoded", "application/x-www-form-urlencoded"),
        ("multipart", "multipart/form-data; boundary=x"),
        ("json-lookalike", "application/jsonx"),
    ]:
        yield raw_case(
            endpoint,
            what,
            valid,
            status=415,
            code="unsupported_media_type",
            content_type=content_type,
        )


def field_cases() -> Iterator[Bad]:
    """Values of the right type but out of range or in the wrong format: 422."""
    out_of_range: dict[str, list[tuple[str, Any]]] = {
        "register": [
            ("email", "not-an-email"),
            ("email", "a@"),
            ("email", "@b.com"),
            ("email", "a b@c.com"),
            ("email", "a@b"),
            ("email", ""),
            ("email", "a" * 250 + "@b.com"),
            ("password", "nine char"),
            ("password", ""),
            ("password", "p" * 257),
            ("name", ""),
            ("name", "   "),
            ("name", "n" * 101),
            ("name", "Zoë\u0000"),
            ("name", "Bell\u0007"),
            ("name", "Esc\u001b[31m"),
            ("name", "Del\u007f"),
            ("name", "Ne\u0085l"),
            ("name", "two\nlines"),
        ],
        "login": [
            ("email", "not-an-email"),
            ("email", "a@"),
            ("email", "@b.com"),
            ("email", "a b@c.com"),
            ("password", ""),
            ("password", "p" * 257),
        ],
        "refresh": [("refresh_token", ""), ("refresh_token", "t" * 513)],
        "logout": [("refresh_token", ""), ("refresh_token", "t" * 513)],
        "checkin": [
            ("sleep_hours", -1),
            ("sleep_hours", 24.01),
            ("sleep_hours", 1e300),
            ("soreness", 0),
            ("soreness", 6),
            ("soreness", -(2**63)),
            ("mood", 0),
            ("mood", 6),
            ("mood", 10**30),
            ("note", "n" * 2001),
            ("note", "nul\u0000byte"),
            ("note", "bell\u0007"),
            ("note", "esc\u001b[2J"),
            ("note", "del\u007f"),
            ("note", "c1\u009b"),
            ("date", "2026/11/23"),
            ("date", "23-11-2026"),
            ("date", "2026-13-01"),
            ("date", "2026-02-30"),
            ("date", "tomorrow"),
            ("date", ""),
            ("date", "2026-11-23T10:00:00Z"),
            ("date", "2026-11-23T00:00:00"),
            ("date", 20261123),
            ("date", IN_TWO_DAYS),
            ("date", "2999-01-01"),
            ("date", "1899-12-31"),
            ("date", "0001-01-01"),
        ],
        "activity": [
            ("sport", "walk"),
            ("sport", "Run"),
            ("sport", ""),
            ("duration_s", 0),
            ("duration_s", -5),
            ("duration_s", 10**12),
            ("distance_m", -1),
            ("distance_m", 1e300),
            ("avg_hr", 29),
            ("avg_hr", 251),
            ("note", "n" * 2001),
            ("note", "nul\u0000byte"),
            ("note", "esc\u001b[2J"),
            ("started_at", "2026-03-01T06:30:00"),
            ("started_at", "2026-03-01"),
            ("started_at", "2026/03/01 06:30"),
            ("started_at", "tomorrow"),
            ("started_at", ""),
            ("started_at", 1772346600),
            ("started_at", IN_THREE_DAYS),
            ("started_at", "1969-12-31T23:59:59Z"),
            ("started_at", "0001-01-01T00:00:00+01:00"),
            ("started_at", "9999-12-31T23:59:59-01:00"),
        ],
        "plan": [
            ("name", ""),
            ("name", "n" * 101),
            ("name", "nul\u0000"),
            ("name", "esc\u001b"),
            ("sessions_per_week", 0),
            ("sessions_per_week", 15),
            ("weekly_distance_m", -1),
            ("weekly_distance_m", 1e300),
            ("start_date", "2026/11/23"),
            ("start_date", "23-11-2026"),
            ("start_date", "2026-13-01"),
            ("start_date", "tomorrow"),
            ("start_date", "2026-03-02T00:00:00Z"),
            ("end_date", "2026-05-24T10:00:00"),
            ("end_date", "2026-03-01"),
            ("end_date", "9999-12-31"),
        ],
        "goal": [
            ("race_name", ""),
            ("race_name", "   "),
            ("race_name", "r" * 101),
            ("race_name", "nul\u0000"),
            ("race_name", "del\u007f"),
            ("distance_m", 0),
            ("distance_m", -1),
            ("distance_m", 1e300),
            ("target_time_s", 0),
            ("target_time_s", -1),
            ("target_time_s", 10**12),
            ("race_date", "2026/11/23"),
            ("race_date", "23-11-2026"),
            ("race_date", "2026-13-01"),
            ("race_date", "tomorrow"),
            ("race_date", "2026-09-27T09:00:00+02:00"),
            ("race_date", "0001-01-01"),
        ],
    }
    # An activity's edit is validated as a new one is.
    by_endpoint = [(BY_NAME[name], values) for name, values in out_of_range.items()]
    by_endpoint.append((ACTIVITY_EDIT, out_of_range["activity"]))
    for endpoint, values in by_endpoint:
        for field_name, value in values:
            shown = repr(value) if len(repr(value)) <= 30 else f"<{len(str(value))} chars>"
            yield body_case(
                endpoint,
                f"{field_name}={shown}",
                with_field(endpoint, field_name, value),
                field=field_name,
            )
    # With a live refresh token, a body that got past validation would revoke it.
    for name in ("refresh", "logout"):
        yield body_case(
            BY_NAME[name],
            "live-token-plus-unknown-field",
            lambda athlete: {"refresh_token": athlete.refresh_token, "device": "phone"},
            field="device",
        )
        yield body_case(
            BY_NAME[name],
            "live-token-in-an-array",
            lambda athlete: {"refresh_token": [athlete.refresh_token]},
            field="refresh_token",
        )
    yield body_case(
        BY_NAME["register"],
        "duplicate-email-other-case",
        lambda athlete: {
            "email": athlete.email.upper(),
            "password": "long enough pw",
            "name": "Twin",
        },
        status=409,
        code="email_taken",
    )


def query_cases() -> Iterator[Bad]:
    shared = [
        ("limit=0", {"limit": "0"}),
        ("limit=101", {"limit": "101"}),
        ("limit=-1", {"limit": "-1"}),
        ("limit=abc", {"limit": "abc"}),
        ("limit=empty", {"limit": ""}),
        ("limit=2.5", {"limit": "2.5"}),
        ("limit=huge", {"limit": "9" * 40}),
        ("before=garbage", {"before": "garbage"}),
        ("before=empty", {"before": ""}),
        ("unknown-param", {"offset": "10"}),
        ("unknown-param-only-name", {"user_id": ""}),
    ]
    specific = {
        "/v1/checkins": [
            ("before=2026-13-01", {"before": "2026-13-01"}),
            ("before=2026/11/23", {"before": "2026/11/23"}),
            ("before=datetime", {"before": "2026-11-23T00:00:00"}),
            ("before=year-1", {"before": "0001-01-01"}),
        ],
        "/v1/activities": [
            ("before=naive", {"before": "2026-03-01T06:30:00"}),
            ("before=date-only", {"before": "2026-03-01"}),
            ("before=year-1-with-offset", {"before": "0001-01-01T00:00:00+01:00"}),
            ("before=year-9999-with-offset", {"before": "9999-12-31T23:59:59-01:00"}),
        ],
    }
    for path, cases in specific.items():
        for what, params in [*shared, *cases]:
            yield Bad(
                f"GET {path}?{what}",
                "GET",
                path,
                True,
                422,
                "validation_error",
                params=params,
                content_type=None,
            )
        # Written into the URL as is: bytes that are not UTF-8, a NUL, a stray "%".
        for raw in ("before=%FF%FE", "limit=%00", "before=%00", "limit=5%", "limit=5&limit=abc"):
            yield Bad(
                f"GET {path}?{raw}",
                "GET",
                f"{path}?{raw}",
                True,
                422,
                "validation_error",
                content_type=None,
            )


BAD_CASES = [
    *(case for endpoint in [*ENDPOINTS, *ROW_ENDPOINTS] for case in generic_cases(endpoint)),
    *field_cases(),
    *query_cases(),
]


async def send(client: httpx.AsyncClient, case: Bad, athlete: Athlete) -> httpx.Response:
    headers: dict[str, str] = {}
    if case.authed:
        headers.update(athlete.headers)
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    content = case.content
    if content is None and case.method != "GET":
        value = case.json(athlete) if callable(case.json) else case.json
        content = json.dumps(value).encode()
    return await client.request(
        case.method, case.path, content=content, params=case.params, headers=headers
    )


@pytest.mark.parametrize("case", BAD_CASES, ids=[case.id for case in BAD_CASES])
async def test_bad_input_gets_a_4xx_and_writes_nothing(
    http: httpx.AsyncClient, someone: Athlete, pg_pool: asyncpg.Pool, case: Bad
) -> None:
    before = await snapshot(pg_pool)
    response = await send(http, case, someone)
    assert_error(response, case.status, case.code)
    if case.field is not None:
        details = response.json()["error"].get("details") or []
        named = [detail["field"] for detail in details]
        assert any(
            name == case.field or name.startswith(f"{case.field}.") for name in named if name
        ), details
    after = await snapshot(pg_pool)
    assert counts(after) == counts(before)
    assert after == before


@pytest.mark.parametrize(
    "name", [endpoint.name for endpoint in ENDPOINTS], ids=[f"{e.name}-valid" for e in ENDPOINTS]
)
async def test_the_valid_bodies_used_above_are_accepted(
    client: httpx.AsyncClient, athlete: Athlete, name: str
) -> None:
    """Guards the cases above: each would be accepted but for the one thing made wrong."""
    endpoint = BY_NAME[name]
    body = dict(endpoint.valid)
    if name in ("refresh", "logout"):
        body["refresh_token"] = athlete.refresh_token
    if name == "login":
        register = BY_NAME["register"].valid
        created = await client.post("/v1/auth/register", json=register)
        assert created.status_code == 201, created.text
    headers = athlete.headers if endpoint.authed else {}
    response = await client.request(endpoint.method, endpoint.path, json=body, headers=headers)
    assert response.status_code in (200, 201, 204), response.text


# --- bodies over the size limit ------------------------------------------------------------


def oversize_json() -> bytes:
    """A well-formed body, just over the limit: too large, not malformed."""
    filler = "x" * (BODY_LIMIT_BYTES + 1)
    return json.dumps({"note": filler}).encode()


async def chunked(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("name", [endpoint.name for endpoint in ENDPOINTS])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_over_the_limit_is_413_and_writes_nothing(
    http: httpx.AsyncClient,
    someone: Athlete,
    core_api: CoreApi,
    pg_pool: asyncpg.Pool,
    name: str,
    framing: str,
) -> None:
    assert core_api.settings.MAX_REQUEST_BODY_BYTES == BODY_LIMIT_BYTES
    endpoint = BY_NAME[name]
    data = oversize_json()
    headers = {"Content-Type": "application/json"}
    if endpoint.authed:
        headers.update(someone.headers)
    before = await snapshot(pg_pool)
    response = await http.request(
        endpoint.method,
        endpoint.path,
        content=data if framing == "content-length" else chunked(data),
        headers=headers,
    )
    sent = response.request.headers
    if framing == "chunked":
        assert sent.get("transfer-encoding") == "chunked" and "content-length" not in sent
    else:
        assert sent["content-length"] == str(len(data))
    assert_error(response, 413, "payload_too_large")
    assert await snapshot(pg_pool) == before


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_just_under_the_limit_is_not_413(
    http: httpx.AsyncClient, someone: Athlete, framing: str
) -> None:
    """The limit is the limit: a big but allowed body reaches validation (the note is too long)."""
    body = json.dumps({"sleep_hours": 7, "soreness": 2, "mood": 3, "note": "x" * 60_000}).encode()
    assert len(body) < BODY_LIMIT_BYTES
    response = await http.post(
        "/v1/checkins",
        content=body if framing == "content-length" else chunked(body),
        headers={**someone.headers, "Content-Type": "application/json"},
    )
    assert_error(response, 422, "validation_error")


# --- access tokens -------------------------------------------------------------------------

AUTHED_ROUTES = [
    ("GET", "/v1/me", None),
    ("GET", "/v1/home", None),
    ("GET", "/v1/checkins", None),
    ("GET", "/v1/activities", None),
    ("GET", "/v1/plan", None),
    ("GET", "/v1/goal", None),
    ("POST", "/v1/checkins", BY_NAME["checkin"].valid),
    ("POST", "/v1/activities", BY_NAME["activity"].valid),
    ("PUT", "/v1/plan", BY_NAME["plan"].valid),
    ("PUT", "/v1/goal", BY_NAME["goal"].valid),
    ("GET", "/v1/stats/weekly", None),
    ("PUT", f"/v1/activities/{UNKNOWN_ID}", ACTIVITY_EDIT.valid),
    ("DELETE", f"/v1/activities/{UNKNOWN_ID}", None),
]
WRITE_ROUTES = [route for route in AUTHED_ROUTES if route[2] is not None]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Keys:
    private: Ed25519PrivateKey
    public_pem: bytes
    issuer: str
    audience: str

    def claims(self, subject: str, **overrides: Any) -> dict[str, Any]:
        claims = access_claims(self.issuer, self.audience, subject, **overrides)
        return {key: value for key, value in claims.items() if value is not None}

    def sign(self, claims: Mapping[str, Any], key: Ed25519PrivateKey | None = None) -> str:
        return sign(key or self.private, dict(claims))


@pytest.fixture(scope="session")
def keys(jwt_key_files: tuple[Path, Path], core_api: CoreApi) -> Keys:
    private_path, public_path = jwt_key_files
    return Keys(
        load_signing_key(private_path),
        public_path.read_bytes(),
        core_api.settings.JWT_ISSUER,
        core_api.settings.JWT_AUDIENCE,
    )


def hs256_with_public_key(keys: Keys, claims: Mapping[str, Any]) -> str:
    # PyJWT refuses to use a PEM as an HMAC secret, so this forgery is built by hand.
    signing_input = (
        b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        + "."
        + b64url(json.dumps(claims).encode())
    )
    signature = hmac.new(keys.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def eddsa_labelled_none(keys: Keys, claims: Mapping[str, Any]) -> str:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


# Each returns the Authorization header value (None: no header) and the expected error code.
TokenCase = Callable[[Keys, Athlete], tuple[str | None, str]]
TOKEN_CASES: dict[str, TokenCase] = {
    "no-header": lambda k, a: (None, "unauthorized"),
    "basic-scheme": lambda k, a: ("Basic xyz", "unauthorized"),
    "basic-scheme-with-real-token": lambda k, a: (f"Basic {a.access_token}", "unauthorized"),
    "bearer-nothing": lambda k, a: ("Bearer", "unauthorized"),
    "token-without-scheme": lambda k, a: (a.access_token, "unauthorized"),
    "garbage": lambda k, a: ("Bearer not.a.jwt", "invalid_token"),
    "garbage-base64": lambda k, a: ("Bearer " + b64url(b"\x00" * 40), "invalid_token"),
    "expired": lambda k, a: (
        "Bearer " + k.sign(k.claims(a.id, iat=int(time.time()) - 3600, exp=int(time.time()) - 60)),
        "token_expired",
    ),
    "other-ed25519-key": lambda k, a: (
        "Bearer " + k.sign(k.claims(a.id), Ed25519PrivateKey.generate()),
        "invalid_token",
    ),
    "hs256-public-key-as-secret": lambda k, a: (
        "Bearer " + hs256_with_public_key(k, k.claims(a.id)),
        "invalid_token",
    ),
    "alg-none": lambda k, a: (
        # PyJWT's "none" algorithm takes "" as no key; its stubs refuse None.
        "Bearer " + jwt.encode(k.claims(a.id), "", algorithm="none"),
        "invalid_token",
    ),
    "alg-none-hand-made": lambda k, a: (
        "Bearer " + eddsa_labelled_none(k, k.claims(a.id)),
        "invalid_token",
    ),
    "signature-stripped": lambda k, a: (
        "Bearer " + a.access_token.rsplit(".", 1)[0] + ".",
        "invalid_token",
    ),
    "payload-swapped": lambda k, a: (
        "Bearer "
        + ".".join(
            [
                a.access_token.split(".")[0],
                b64url(json.dumps(k.claims(a.id, role="admin")).encode()),
                a.access_token.split(".")[2],
            ]
        ),
        "invalid_token",
    ),
    "wrong-audience": lambda k, a: (
        "Bearer " + k.sign(k.claims(a.id, aud="other")),
        "invalid_token",
    ),
    "wrong-issuer": lambda k, a: ("Bearer " + k.sign(k.claims(a.id, iss="evil")), "invalid_token"),
    "no-exp": lambda k, a: ("Bearer " + k.sign(k.claims(a.id, exp=None)), "invalid_token"),
    "not-yet-valid": lambda k, a: (
        "Bearer " + k.sign(k.claims(a.id, nbf=int(time.time()) + 3600)),
        "invalid_token",
    ),
    "typ-refresh": lambda k, a: (
        "Bearer " + k.sign(k.claims(a.id, typ="refresh")),
        "invalid_token",
    ),
    "sub-not-a-uuid": lambda k, a: ("Bearer " + k.sign(k.claims("admin")), "invalid_token"),
    "unknown-role": lambda k, a: ("Bearer " + k.sign(k.claims(a.id, role="root")), "invalid_token"),
    "refresh-token-as-access-token": lambda k, a: (f"Bearer {a.refresh_token}", "invalid_token"),
}


@pytest.mark.parametrize(
    ("method", "path", "body"), AUTHED_ROUTES, ids=[f"{m} {p}" for m, p, _ in AUTHED_ROUTES]
)
@pytest.mark.parametrize("token_case", sorted(TOKEN_CASES))
async def test_a_bad_access_token_is_401_and_writes_nothing(
    http: httpx.AsyncClient,
    someone: Athlete,
    keys: Keys,
    pg_pool: asyncpg.Pool,
    token_case: str,
    method: str,
    path: str,
    body: Mapping[str, Any] | None,
) -> None:
    authorization, code = TOKEN_CASES[token_case](keys, someone)
    headers = {"Authorization": authorization} if authorization is not None else {}
    before = await snapshot(pg_pool)
    response = await http.request(method, path, json=body, headers=headers)
    assert_error(response, 401, code)
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    assert await snapshot(pg_pool) == before


@pytest.mark.parametrize(
    ("method", "path", "body"), AUTHED_ROUTES, ids=[f"{m} {p}" for m, p, _ in AUTHED_ROUTES]
)
async def test_tokens_forged_here_pass_when_nothing_is_wrong(
    client: httpx.AsyncClient,
    athlete: Athlete,
    keys: Keys,
    method: str,
    path: str,
    body: Mapping[str, Any] | None,
) -> None:
    """Guards the 401 cases: the same claims, properly signed, are accepted."""
    headers = {"Authorization": "Bearer " + keys.sign(keys.claims(athlete.id))}
    response = await client.request(method, path, json=body, headers=headers)
    # GET /v1/plan and /v1/goal are 404 until set; that is past authentication.
    assert response.status_code in (200, 201, 404), response.text


@pytest.mark.parametrize(
    ("method", "path", "body"), WRITE_ROUTES, ids=[f"{m} {p}" for m, p, _ in WRITE_ROUTES]
)
async def test_a_valid_token_for_a_deleted_account_writes_nothing(
    client: httpx.AsyncClient,
    athlete: Athlete,
    keys: Keys,
    pg_pool: asyncpg.Pool,
    method: str,
    path: str,
    body: Mapping[str, Any],
) -> None:
    """An access token outlives its account by up to its TTL: a 4xx, not a 500 from a foreign key."""
    async with pg_pool.acquire() as conn:
        await conn.execute("DELETE FROM users WHERE id = $1", uuid.UUID(athlete.id))
    before = await snapshot(pg_pool)
    response = await client.request(method, path, json=body, headers=athlete.headers)
    assert_error(response, 401, "invalid_token")
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    assert await snapshot(pg_pool) == before


# --- methods -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/v1/checkins"),
        ("PATCH", "/v1/plan"),
        ("POST", "/v1/goal"),
        ("GET", "/v1/auth/register"),
        ("PUT", "/v1/activities"),
        ("POST", "/v1/stats/weekly"),
        ("POST", f"/v1/activities/{UNKNOWN_ID}"),
    ],
    ids=lambda value: str(value),
)
async def test_a_wrong_method_is_405_in_the_error_shape(
    http: httpx.AsyncClient, someone: Athlete, pg_pool: asyncpg.Pool, method: str, path: str
) -> None:
    before = await snapshot(pg_pool)
    response = await http.request(method, path, json={}, headers=someone.headers)
    assert_error(response, 405, "method_not_allowed")
    assert await snapshot(pg_pool) == before
