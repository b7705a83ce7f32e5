"""`make smoke`'s check (python -m pacer_devstack.smoke) against `make run`'s stack."""

from __future__ import annotations

import subprocess
import sys

from fixtures.stack import Stack
from pacer_devstack.harness import free_ports

ENDPOINTS = ("GET /health", "POST /v1/auth/login", "GET /v1/home")


def _smoke(*args: str, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pacer_devstack.smoke", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def _rows(output: str) -> dict[str, list[str]]:
    """endpoint -> [calls, failed, p50, p95, max, limit, result]"""
    rows = {}
    for line in output.splitlines():
        for endpoint in ENDPOINTS:
            if line.startswith(endpoint + " "):
                rows[endpoint] = line[len(endpoint) :].split()
    return rows


def test_smoke_passes_against_the_dev_stack_and_prints_its_table(stack: Stack) -> None:
    # Twice: the first run registers the smoke user, the second finds it.
    for _ in range(2):
        result = _smoke("--url", stack.url, "--calls", "30", "--login-calls", "10")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "p50 ms" in result.stdout and "p95 ms" in result.stdout
        rows = _rows(result.stdout)
        assert set(rows) == set(ENDPOINTS), result.stdout
        for endpoint, (calls, failed, p50, p95, *_, verdict) in rows.items():
            assert int(calls) == (10 if "login" in endpoint else 30)
            assert int(failed) == 0 and verdict == "ok"
            assert 0 < float(p50) <= float(p95)
        assert result.stdout.rstrip().endswith("smoke: PASS")


def test_smoke_fails_when_a_p95_is_over_its_limit(stack: Stack) -> None:
    result = _smoke(
        "--url", stack.url, "--calls", "5", "--login-calls", "1", "--p95-health-ms", "0.001"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert _rows(result.stdout)["GET /health"][-1] == "FAIL"
    assert _rows(result.stdout)["GET /v1/home"][-1] == "ok"
    assert result.stdout.rstrip().endswith("smoke: FAIL")


def test_smoke_fails_fast_when_nothing_listens() -> None:
    (port,) = free_ports(1)
    result = _smoke("--url", f"http://127.0.0.1:{port}", "--timeout-s", "2", timeout_s=30)
    assert result.returncode != 0
    assert "FAIL" in result.stdout and "cannot reach" in result.stdout


def test_smoke_needs_a_password_for_anything_but_loopback() -> None:
    # A default password would let anyone log in as the smoke user in production.
    result = _smoke("--url", "https://pacer.example.com", timeout_s=30)
    assert result.returncode == 2
    assert "SMOKE_PASSWORD" in result.stderr
