"""`make run`'s proxy under hostile clients: a bad request hurts only its sender,
and no header can bend the JSON Caddy writes or split the request id."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from fixtures.stack import Stack
from fixtures.waiting import poll_sync
from pacer_common.settings import DEFAULT_MAX_REQUEST_BODY_BYTES
from pacer_common.web.request_context import REQUEST_ID_PATTERN
from pacer_devstack.proxy import dev_values, render_caddyfile

PASSWORD = "correct horse battery"
BAD_REQUESTS = 50
# The shape pacer_common.web.request_context and the Caddyfile both accept.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
HOSTILE_IDS: list[list[tuple[str, str]]] = [
    [("X-Request-ID", "abc"), ("X-Request-ID", 'x","code":"pwned')],
    [("X-Request-ID", 'x","code":"pwned')],
    [("X-Request-ID", "a\\u0022b")],
    [("X-Request-ID", "a" * 65)],
    [("X-Request-ID", "has space")],
    [("X-Request-ID", "abc"), ("X-Request-ID", "abc")],
    [("X-Request-ID", "")],
]


def _token(http: httpx.Client, email: str) -> str:
    http.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "Runner"})
    login = http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


def _raw(port: int, head: bytes, body: bytes, *, read_reply: bool) -> None:
    """One request on its own connection; Caddy may hang up early, which is fine."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        try:
            conn.sendall(head + body)
            if read_reply:
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass
        except OSError:
            pass


def _oversize_login(port: int) -> None:
    body = b'{"email":"' + b"a" * 1_100_000 + b'"}'
    head = (
        b"POST /v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    )
    _raw(port, head, body, read_reply=True)


def _malformed_chunked_login(port: int) -> None:
    head = (
        b"POST /v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    _raw(port, head, b"zz\r\n", read_reply=True)


def _aborted_upload(port: int) -> None:
    head = (
        b"POST /v1/checkins HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000\r\n\r\n"
    )
    # Half the body, then the client is gone.
    _raw(port, head, b'{"sleep_hours": ' + b" " * 2000, read_reply=False)


BAD_KINDS: list[Callable[[int], None]] = [
    _oversize_login,
    _malformed_chunked_login,
    _aborted_upload,
]


def test_bad_requests_from_one_client_never_make_the_api_unavailable_to_another(
    stack: Stack,
) -> None:
    port = stack.port("PACER_HTTP_PORT")
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        auth = {"Authorization": f"Bearer {_token(http, 'bystander@example.com')}"}
        assert http.get("/v1/home", headers=auth).status_code == 200
        done = threading.Event()

        def attack() -> None:
            try:
                for index in range(BAD_REQUESTS):
                    BAD_KINDS[index % len(BAD_KINDS)](port)
            finally:
                done.set()

        attacker = threading.Thread(target=attack)
        attacker.start()
        statuses: list[int] = []
        # During the attack and for as long again as Caddy used to keep an
        # upstream marked failed (2 s) after it.
        try:
            while not done.is_set():
                statuses.append(http.get("/v1/home", headers=auth).status_code)
            settle = time.monotonic() + 2.5
            while time.monotonic() < settle:
                statuses.append(http.get("/v1/home", headers=auth).status_code)
        finally:
            attacker.join(timeout=60)
        assert len(statuses) >= 20
        failed = [status for status in statuses if status != 200]
        assert not failed, f"{len(failed)} of {len(statuses)} home calls failed: {set(failed)}"
        # Each service answers its own health check, both through the proxy.
        assert http.get("/health").status_code == 200
        assert http.get("/v1/coach/conversations", headers=auth).status_code == 200


def _caddy_error_responses(http: httpx.Client, headers: list[tuple[str, str]]) -> list[Any]:
    # Caddy's 413, 502 and 503 need an upstream that reads every byte or none
    # at all (core-api refuses a big body itself, first): test_proxy_config's
    # stub proxy checks those with the same headers.
    return [
        http.get("/metrics", headers=headers),  # a 404 the site block writes
        # A 404 handle_errors writes: a file the file server hides (a missing one
        # gets the client's index.html, now that web/ has one).
        http.get("/README.md", headers=headers),
    ]


def test_caddys_error_bodies_are_json_whatever_the_request_id_headers(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        for headers in HOSTILE_IDS:
            for response in _caddy_error_responses(http, headers):
                assert response.headers["content-type"] == "application/json"
                body = json.loads(response.text)  # well-formed, or this raises
                assert set(body) == {"error"}, response.text
                assert set(body["error"]) == {"code", "message", "request_id"}, response.text
                (request_id,) = response.headers.get_list("x-request-id")
                assert body["error"]["request_id"] == request_id
                assert SAFE_REQUEST_ID.fullmatch(request_id), request_id
                # Every one of these is replaced: a hostile value, a join of two
                # values, or the first of two.
                assert request_id not in {value for _, value in headers}
                assert "," not in request_id


def _log_entries(path: Path) -> list[dict[str, Any]]:
    entries = []
    for line in path.read_text().splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            entries.append(json.loads(line[start:]))
        except ValueError:
            continue
    return entries


def _poll_log(path: Path, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    def matching() -> list[dict[str, Any]]:
        return [entry for entry in _log_entries(path) if predicate(entry)] if path.exists() else []

    return poll_sync(matching, timeout_s=15, interval_s=0.05, what=f"a matching line in {path}")[-1]


def _is_request_for(uri: str) -> Callable[[dict[str, Any]], bool]:
    return lambda entry: bool(entry.get("request", {}).get("uri") == uri)


def _is_access_line_of(request_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda entry: entry.get("event") == "request" and entry.get("request_id") == request_id


def test_caddy_and_core_api_log_the_same_single_request_id(stack: Stack) -> None:
    logs = stack.data_dir / "logs"
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        for headers in HOSTILE_IDS:
            marker = f"/v1/home?probe={time.monotonic_ns()}"
            response = http.get(marker, headers=headers)
            (request_id,) = response.headers.get_list("x-request-id")
            assert SAFE_REQUEST_ID.fullmatch(request_id), request_id
            caddy = _poll_log(logs / "caddy-access.log", _is_request_for(marker))
            assert caddy["request_id"] == request_id
            core_api = _poll_log(logs / "core-api.log", _is_access_line_of(request_id))
            assert core_api["path"] == "/v1/home"
        # A plain id a client chose is kept everywhere.
        kept = http.get("/v1/home", headers={"X-Request-ID": "trace-1.2_3"})
        assert kept.headers["x-request-id"] == "trace-1.2_3"
        _poll_log(logs / "core-api.log", lambda entry: entry.get("request_id") == "trace-1.2_3")


def test_a_malformed_chunked_body_is_the_clients_400_not_a_502(stack: Stack) -> None:
    head = (
        b"POST /v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", stack.port("PACER_HTTP_PORT")), timeout=10) as conn:
        conn.sendall(head + b"zz\r\n")
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.split()[1] == b"400", reply[:300]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["error"]["code"] == "bad_request" and body["error"]["request_id"]


def test_caddy_and_the_services_share_one_request_id_shape() -> None:
    text = render_caddyfile(
        dev_values(http_port=18080, core_api=["127.0.0.1:1"], coach=["127.0.0.1:2"])
    )
    (caddy_rule,) = re.findall(r"vars_regexp \{http\.request\.header\.X-Request-ID\} (\S+)", text)
    assert caddy_rule == "^" + REQUEST_ID_PATTERN.pattern.decode() + "$"


# --- issue 19: around the proxy ---------------------------------------------------------

WRITES_PER_BYSTANDER = 30
H2C_UPGRADE = (
    b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
    b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n%s\r\n"
)


def _response_head(port: int, request: bytes, timeout_s: float = 10) -> bytes:
    """The status line and headers of the first answer on a fresh connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as conn:
        conn.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
    return received.partition(b"\r\n\r\n")[0]


def test_an_h2c_upgrade_through_the_proxy_is_an_ordinary_request(stack: Stack) -> None:
    port = stack.port("PACER_HTTP_PORT")
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        token = _token(http, "upgrader@example.com")
    for path, extra in (
        (b"/health", b""),
        (b"/v1/me", b"Authorization: Bearer %s\r\n" % token.encode()),
        (b"/v1/coach/conversations", b"Authorization: Bearer %s\r\n" % token.encode()),
    ):
        head = _response_head(port, H2C_UPGRADE % (path, extra))
        assert head.startswith(b"HTTP/1.1 200"), (path, head)
        # Caddy's security headers are there: this went through the proxy, not a tunnel.
        assert b"x-content-type-options: nosniff" in head.lower(), head


def _oversized(port: int, token: str, length: int, *, chunked: bool) -> int:
    """A write whose body is over the services' limit; the status it gets (0: none)."""
    body = b'{"note": "' + b"x" * length + b'"}'
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % len(body)
    head = (
        b"POST /v1/checkins HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer %s\r\n%s\r\nConnection: close\r\n\r\n" % (token.encode(), framing)
    )
    payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if chunked else body
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        # The proxy may answer and hang up before the body is all sent.
        with contextlib.suppress(OSError):
            conn.sendall(head + payload)
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                received += chunk
    status = received.split(b" ", 2)[1:2]
    return int(status[0]) if status and status[0].isdigit() else 0


def test_oversized_bodies_never_fail_other_users_writes(stack: Stack) -> None:
    """One client's bodies over the limit, at sizes either side of the proxy's old
    1 MB, with both framings, while others write: every bystander write lands,
    and the sender is told 413 (its own mistake), never 502 (retry)."""
    port = stack.port("PACER_HTTP_PORT")
    with httpx.Client(base_url=stack.url, timeout=10) as setup:
        tokens = [_token(setup, f"writer{index}@example.com") for index in range(3)]
        # A signed-in sender: the service reads its body rather than answering 401 first.
        sender_token = _token(setup, "sender@example.com")
    writers_done = threading.Event()
    sender: list[int] = []
    writes: list[int] = []
    errors: list[str] = []

    def attack() -> None:
        index = 0
        while not writers_done.is_set():
            length = (200_000, 1_100_000, 70_000)[index % 3]
            sender.append(_oversized(port, sender_token, length, chunked=index % 2 == 1))
            index += 1

    def write(token: str) -> None:
        auth = {"Authorization": f"Bearer {token}"}
        plan = {
            "name": "Block",
            "start_date": "2026-03-02",
            "end_date": "2026-05-24",
            "sessions_per_week": 4,
        }
        checkin = {"sleep_hours": 7.0, "soreness": 2, "mood": 4}
        with httpx.Client(base_url=stack.url, timeout=10) as http:
            for _ in range(WRITES_PER_BYSTANDER):
                for method, path, body in (
                    ("PUT", "/v1/plan", plan),
                    ("POST", "/v1/checkins", checkin),
                ):
                    try:
                        writes.append(
                            http.request(method, path, json=body, headers=auth).status_code
                        )
                    except httpx.HTTPError as error:
                        # The proxy hung up on this write: as failed as a 502.
                        writes.append(0)
                        errors.append(repr(error))

    attacker = threading.Thread(target=attack)
    writers = [threading.Thread(target=write, args=(token,)) for token in tokens]
    attacker.start()
    for thread in writers:
        thread.start()
    try:
        for thread in writers:
            thread.join(timeout=120)
    finally:
        writers_done.set()
        attacker.join(timeout=60)
    assert len(writes) == 2 * WRITES_PER_BYSTANDER * len(tokens)
    failed = [status for status in writes if status not in (200, 201)]
    assert not failed, (
        f"{len(failed)} of {len(writes)} writes failed: {sorted(set(failed))} {errors[:3]}"
    )
    assert len(sender) >= 10 and set(sender) == {413}, sender


def test_expect_100_continue_over_the_limit_is_413_at_once(stack: Stack) -> None:
    head = _response_head(
        stack.port("PACER_HTTP_PORT"),
        b"POST /v1/checkins HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\nExpect: 100-continue\r\n\r\n",
        timeout_s=3,
    )
    # No 100 Continue first: the body is never asked for.
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"content-type: application/json" in head.lower(), head


def test_a_body_over_the_services_limit_is_the_proxys_413_in_the_error_shape(
    stack: Stack,
) -> None:
    with httpx.Client(base_url=stack.url, timeout=10) as http:
        auth = {"Authorization": f"Bearer {_token(http, 'big-body@example.com')}"}
        limit = DEFAULT_MAX_REQUEST_BODY_BYTES
        note = {"sleep_hours": 7.0, "soreness": 2, "mood": 4, "note": ""}
        filler = limit - len(json.dumps(note).encode())
        fits = http.post("/v1/checkins", content=json.dumps({**note, "note": "x" * filler}))
        # Past the proxy: core-api's own answer (no token).
        assert fits.status_code == 401, fits.text
        over = http.post(
            "/v1/checkins",
            content=json.dumps({**note, "note": "x" * (filler + 1)}),
            headers=auth,
        )
        assert over.status_code == 413
        body = over.json()
        assert body["error"]["code"] == "payload_too_large"
        assert body["error"]["request_id"] == over.headers["x-request-id"]
        # Refused at the proxy: core-api never logged it.
        request_id = over.headers["x-request-id"]
    core_api_log = (stack.data_dir / "logs" / "core-api.log").read_text()
    assert request_id not in core_api_log
