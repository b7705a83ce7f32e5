"""The Caddy configs rendered from proxy/ (dev and prod, one template set) are valid,
expose nothing internal, and behave: the dev config is run against stub upstreams."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.errors import assert_error
from fixtures.waiting import poll_sync
from pacer_common.settings import DEFAULT_MAX_REQUEST_BODY_BYTES
from pacer_devstack.harness import free_ports
from pacer_devstack.proxy import (
    ProxyValues,
    ProxyValuesError,
    Upstreams,
    dev_values,
    prod_values,
    render_caddyfile,
)
from pacer_devstack.render import caddy_binary

METRICS_PORTS = ("9101", "9102", "9103")
DEV = dev_values(http_port=18080, core_api=["127.0.0.1:18001"], coach=["127.0.0.1:18002"])
PROD = prod_values(domain="pacer.example.com", acme_email="ops@example.com")
TARGETS = {
    "dev": DEV,
    "prod": PROD,
    "prod-dns": prod_values(
        domain="pacer.example.com", acme_email="ops@example.com", discovery="dns"
    ),
    # What deploy/ mounts: domain and email from the environment at load time.
    "prod-env": prod_values(domain="{$PACER_DOMAIN}", acme_email="{$ACME_EMAIL}"),
}
CADDY_ENV = {"PACER_DOMAIN": "pacer.example.com", "ACME_EMAIL": "ops@example.com"}


def _caddy(args: list[str], home: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(caddy_binary()), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home), "PATH": "/usr/bin:/bin"}
        | CADDY_ENV,
        **kwargs,
    )


def _adapted(values: ProxyValues, tmp_path: Path) -> dict[str, Any]:
    config = tmp_path / "Caddyfile"
    config.write_text(render_caddyfile(values))
    result = _caddy(["adapt", "--config", str(config), "--adapter", "caddyfile"], tmp_path)
    assert result.returncode == 0, result.stderr
    adapted: dict[str, Any] = json.loads(result.stdout)
    return adapted


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _proxies(adapted: dict[str, Any]) -> list[dict[str, Any]]:
    return [node for node in _walk(adapted) if node.get("handler") == "reverse_proxy"]


@pytest.mark.parametrize("target", TARGETS)
def test_each_rendered_config_validates_without_asking_for_certificates(
    target: str, tmp_path: Path
) -> None:
    config = tmp_path / "Caddyfile"
    config.write_text(render_caddyfile(TARGETS[target]))
    result = _caddy(["validate", "--config", str(config), "--adapter", "caddyfile"], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Valid configuration" in output
    # validate provisions but never starts: no ACME order, nothing in the storage.
    assert "obtain" not in output.lower()
    assert not (tmp_path / "caddy" / "certificates").exists()
    # The rendered text is what `caddy fmt` would write: humans read it in deploy/.
    formatted = _caddy(["fmt", str(config)], tmp_path)
    assert formatted.stdout == config.read_text()


def test_dev_binds_loopback_over_plain_http_and_prod_gets_https(tmp_path: Path) -> None:
    dev, prod = render_caddyfile(DEV), render_caddyfile(PROD)
    assert "default_bind 127.0.0.1" in dev and "auto_https off" in dev
    assert "default_bind" not in prod and "auto_https" not in prod
    assert "email ops@example.com" in prod and "\npacer.example.com {" in prod
    assert "Strict-Transport-Security" in prod and "Strict-Transport-Security" not in dev
    for text in (dev, prod):
        assert "admin off" in text
    # Caddy's own reading: dev listens on loopback only, prod on 443 with a certificate.
    dev_server = _adapted(DEV, tmp_path)["apps"]["http"]["servers"]["srv0"]
    assert dev_server["listen"] == ["127.0.0.1:18080"]
    prod_adapted = _adapted(PROD, tmp_path)
    assert prod_adapted["apps"]["http"]["servers"]["srv0"]["listen"] == [":443"]
    assert prod_adapted["apps"]["tls"]["automation"]["policies"][0]["subjects"] == [
        "pacer.example.com"
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_only_the_api_ports_are_upstreams(target: str, tmp_path: Path) -> None:
    text = render_caddyfile(TARGETS[target])
    for port in METRICS_PORTS:
        assert f":{port}" not in text
    adapted = _adapted(TARGETS[target], tmp_path)
    dials = {up["dial"] for proxy in _proxies(adapted) for up in proxy.get("upstreams", [])}
    ports = {str(node["port"]) for node in _walk(adapted) if node.get("source") == "a"} | {
        dial.rsplit(":", 1)[1] for dial in dials
    }
    assert ports == ({"18001", "18002"} if target == "dev" else {"8001", "8002"})


@pytest.mark.parametrize("target", TARGETS)
def test_coach_streams_unbuffered_and_core_api_has_short_timeouts(
    target: str, tmp_path: Path
) -> None:
    coach, core_api = _proxies(_adapted(TARGETS[target], tmp_path))
    assert coach["flush_interval"] == -1
    assert coach["transport"]["read_timeout"] == 150 * 10**9
    assert "flush_interval" not in core_api
    assert core_api["transport"]["read_timeout"] == 30 * 10**9
    for proxy in (coach, core_api):
        # Retries on another replica, bounded well under the 3 s a client waits.
        balancing = proxy["load_balancing"]
        assert balancing["retries"] >= 1 and balancing["try_duration"] <= 2 * 10**9
        # Changed on purpose (issue 9): no passive health checks, which Caddy
        # trips on a client's broken body too (proxy/macros.j2). A refused
        # connection is retried on the next replica instead.
        assert "passive" not in proxy.get("health_checks", {})
        assert balancing["selection_policy"]["policy"] == "round_robin"
        if target == "prod-dns":
            assert proxy["dynamic_upstreams"]["source"] == "a"
        else:
            active = proxy["health_checks"]["active"]
            assert active["uri"] == "/health" and active["interval"] and active["timeout"]
    if target.startswith("prod") and target != "prod-dns":
        # Several replicas of each, by the names docker compose gives them.
        assert [up["dial"] for up in coach["upstreams"]] == [
            "pacer-coach-1:8002",
            "pacer-coach-2:8002",
        ]


def test_values_refuse_what_would_break_the_caddyfile() -> None:
    with pytest.raises(ProxyValuesError):
        prod_values(domain="pacer.example.com", acme_email="")
    with pytest.raises(ProxyValuesError):
        prod_values(domain="a.example.com { }", acme_email="ops@example.com")
    with pytest.raises(ProxyValuesError):
        Upstreams.fixed(["127.0.0.1"])
    with pytest.raises(ProxyValuesError):
        Upstreams(addresses=("a:1",), dns_name="a", dns_port=1)


# --- the dev config, run -------------------------------------------------------


class _StubAPI(BaseHTTPRequestHandler):
    """Stands in for core-api on the wire: reads the whole body and echoes what it got."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        payload = json.dumps(
            {
                "path": self.path,
                "request_id": self.headers.get("X-Request-ID"),
                "body_bytes": len(body),
                "upgrade": self.headers.get("Upgrade"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Server", "stub/1.0")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class RunningProxy:
    url: str
    access_log: Path


class _StubServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # Caddy hangs up mid-request on purpose in some tests (the body limit);
        # the tests judge what the client got, not the stub's broken pipes.
        pass


@pytest.fixture(scope="module")
def running_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    home = tmp_path_factory.mktemp("caddy")
    static = home / "web"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>Pacer</title>")
    (static / "README.md").write_text("hidden")
    http_port, core_api_port, dead_core_api_port, coach_port = free_ports(4)
    stub = _StubServer(("127.0.0.1", core_api_port), _StubAPI)
    serving = threading.Thread(target=stub.serve_forever, daemon=True)
    serving.start()
    access_log = home / "access.log"
    config = home / "Caddyfile"
    config.write_text(
        render_caddyfile(
            dev_values(
                http_port=http_port,
                # Two core-api replicas, one of them down for the whole module.
                core_api=[f"127.0.0.1:{core_api_port}", f"127.0.0.1:{dead_core_api_port}"],
                # Nothing listens here: the coach is down for the whole module.
                coach=[f"127.0.0.1:{coach_port}"],
                access_log=access_log,
                static_root=static,
            )
        )
    )
    caddy = subprocess.Popen(
        [str(caddy_binary()), "run", "--config", str(config), "--adapter", "caddyfile"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home), "PATH": os.defpath},
    )
    try:

        def listening() -> bool:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", http_port)) == 0:
                    return True
            assert caddy.poll() is None, "caddy exited"
            return False

        poll_sync(listening, timeout_s=30, interval_s=0.05, what="caddy to listen")
        yield RunningProxy(url=f"http://127.0.0.1:{http_port}", access_log=access_log)
    finally:
        caddy.terminate()
        caddy.wait(timeout=10)
        stub.shutdown()
        stub.server_close()


def _assert_error_shape(response: httpx.Response, status: int, code: str) -> None:
    error = assert_error(response, status, code)
    # Through Caddy: exactly JSON, and the request id the proxy put on the answer.
    assert response.headers["content-type"] == "application/json"
    assert error["request_id"] == response.headers["x-request-id"]


def test_api_paths_reach_core_api_with_a_request_id(running_proxy: RunningProxy) -> None:
    with httpx.Client(base_url=running_proxy.url, timeout=10) as http:
        for path in ("/health", "/health/ready", "/v1/home", "/v1/admin/users", "/v1"):
            response = http.get(path)
            assert response.status_code == 200, path
            echoed = response.json()
            assert echoed["path"] == path
            # The id Caddy made went upstream and came back in the response.
            assert echoed["request_id"] == response.headers["x-request-id"]
            assert len(response.headers.get_list("x-request-id")) == 1

        kept = http.get("/v1/home", headers={"X-Request-ID": "trace-42"})
        assert kept.headers["x-request-id"] == "trace-42"
        assert kept.json()["request_id"] == "trace-42"
        # An id that could forge log lines or break JSON is replaced, as core-api would.
        replaced = http.get("/v1/home", headers={"X-Request-ID": 'bad "id"'})
        assert replaced.json()["request_id"] == replaced.headers["x-request-id"] != 'bad "id"'


def test_a_replica_that_is_down_is_retried_on_another(running_proxy: RunningProxy) -> None:
    # Fresh connections each time, so that every request is balanced anew; POSTs
    # too, which Caddy retries only because the connection was never made.
    for index in range(20):
        with httpx.Client(base_url=running_proxy.url, timeout=10) as http:
            response = http.post("/v1/checkins", json={"n": index})
            assert response.status_code == 200, response.text
            assert response.json()["path"] == "/v1/checkins"


def test_security_headers_on_every_kind_of_response(running_proxy: RunningProxy) -> None:
    with httpx.Client(base_url=running_proxy.url, timeout=10) as http:
        for path in ("/health", "/", "/metrics", "/v1/coach/chat"):
            headers = http.get(path).headers
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"]
            assert "default-src 'self'" in headers["content-security-policy"]
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert "server" not in headers and "via" not in headers
            # Plain HTTP in dev: HSTS would pin a browser to an HTTPS localhost.
            assert "strict-transport-security" not in headers


@pytest.mark.parametrize(
    "path",
    ["/metrics", "/METRICS", "/v1/metrics", "/internal/jobs", "/v1/internal/x", "/_sim/mode"],
)
def test_metrics_and_internal_routes_are_404(running_proxy: RunningProxy, path: str) -> None:
    with httpx.Client(base_url=running_proxy.url, timeout=10) as http:
        _assert_error_shape(http.get(path), 404, "not_found")


def test_static_client_is_served_for_paths_outside_the_api(running_proxy: RunningProxy) -> None:
    with httpx.Client(base_url=running_proxy.url, timeout=10) as http:
        assert "<title>Pacer</title>" in http.get("/").text
        # A single-page client's own routes get index.html.
        deep = http.get("/plans/week-3")
        assert deep.status_code == 200 and "<title>Pacer</title>" in deep.text
        assert "hidden" not in http.get("/README.md").text


def test_a_body_over_the_services_limit_is_refused_in_the_error_shape(
    running_proxy: RunningProxy,
) -> None:
    # Changed on purpose (issue 19): the proxy's limit is the services' own
    # (MAX_REQUEST_BODY_BYTES, 64 KiB), no longer 1 MB, and it is one figure.
    limit = DEFAULT_MAX_REQUEST_BODY_BYTES
    assert DEV.max_body_bytes == limit
    with httpx.Client(base_url=running_proxy.url, timeout=10) as http:
        fits = http.post("/v1/checkins", content=b"x" * limit)
        assert fits.json()["body_bytes"] == limit
        for framing in ("content-length", "chunked"):
            body = b"x" * (limit + 1)
            content = iter([body]) if framing == "chunked" else body
            over = http.post("/v1/checkins", content=content)
            _assert_error_shape(over, 413, "payload_too_large")
            # Answered without reading the rest: the connection is not reused.
            assert over.headers["connection"] == "close"


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_refuses_upgrades_and_big_bodies_before_the_upstream(
    target: str, tmp_path: Path
) -> None:
    routes = _adapted(TARGETS[target], tmp_path)["apps"]["http"]["servers"]["srv0"]["routes"]
    handlers = [handler for node in _walk(routes) for handler in node.get("handle", [])]
    deleted = {
        name for handler in handlers for name in handler.get("request", {}).get("delete", [])
    }
    assert {"Upgrade", "HTTP2-Settings"} <= deleted
    (body,) = [handler for handler in handlers if handler.get("handler") == "request_body"]
    assert body["max_size"] == DEFAULT_MAX_REQUEST_BODY_BYTES
    expressions = [node["expression"]["expr"] for node in _walk(routes) if "expression" in node]
    assert any(f"> {DEFAULT_MAX_REQUEST_BODY_BYTES}" in expr for expr in expressions)


def test_an_upgrade_header_never_reaches_the_upstream(running_proxy: RunningProxy) -> None:
    with httpx.Client(base_url=running_proxy.url, timeout=10) as http:
        response = http.get(
            "/v1/home",
            headers={"Connection": "Upgrade", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABk"},
        )
    assert response.status_code == 200
    assert response.json()["upgrade"] is None


def test_expect_100_continue_with_a_huge_length_is_413_at_once(
    running_proxy: RunningProxy,
) -> None:
    port = int(running_proxy.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=3) as conn:
        conn.sendall(
            b"POST /v1/checkins HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            assert chunk, head
            head += chunk
    assert head.startswith(b"HTTP/1.1 413"), head


def test_caddys_own_errors_are_json_whatever_the_request_id_headers(
    running_proxy: RunningProxy,
) -> None:
    hostile: list[list[tuple[str, str]]] = [
        [("X-Request-ID", "abc"), ("X-Request-ID", 'x","code":"pwned')],
        [("X-Request-ID", 'x","code":"pwned')],
        [("X-Request-ID", "a" * 65)],
    ]
    with httpx.Client(base_url=running_proxy.url, timeout=10) as http:
        for headers in hostile:
            for response, status in (
                (http.post("/v1/checkins", content=b"x" * 1_100_000, headers=headers), 413),
                (http.post("/v1/coach/chat", json={"message": "hi"}, headers=headers), 502),
                (http.get("/metrics", headers=headers), 404),
            ):
                json.loads(response.text)  # well-formed, or this raises
                assert response.status_code in (status, 503 if status == 502 else status)
                _assert_error_shape(
                    response, response.status_code, response.json()["error"]["code"]
                )
                (request_id,) = response.headers.get_list("x-request-id")
                assert request_id not in {value for _, value in headers}
        # Upstream too: the stub got one id, Caddy's new one.
        echoed = http.get("/v1/home", headers=hostile[0]).json()
        assert echoed["request_id"] not in ("abc", 'abc,x","code":"pwned')


def test_no_coach_upstream_is_a_quick_json_502_or_503(running_proxy: RunningProxy) -> None:
    with httpx.Client(base_url=running_proxy.url, timeout=10) as http:
        started = time.monotonic()
        response = http.post("/v1/coach/chat", json={"message": "hi"})
        took = time.monotonic() - started
    assert response.status_code in (502, 503)
    _assert_error_shape(response, response.status_code, "unavailable")
    assert response.headers["retry-after"]
    assert took < 3, f"took {took:.1f} s"


def test_access_log_is_json_with_the_request_id(running_proxy: RunningProxy) -> None:
    with httpx.Client(base_url=running_proxy.url, timeout=10) as http:
        request_id = http.get("/v1/home", headers={"X-Request-ID": "log-me-7"}).headers[
            "x-request-id"
        ]

    def logged() -> bool:
        lines = running_proxy.access_log.read_text().splitlines()
        return any(json.loads(line).get("request_id") == request_id for line in lines)

    poll_sync(logged, timeout_s=10, interval_s=0.05, what="an access-log line with the request id")
