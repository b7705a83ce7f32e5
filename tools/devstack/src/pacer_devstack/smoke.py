"""Deploy smoke check: log a smoke user in and time the endpoints every user hits first.

    make smoke URL=https://pacer.example.com
    python -m pacer_devstack.smoke --url http://127.0.0.1:8080 --p95-home-ms 500

Run it before and after a deploy (seed 001: the slowdown was visible in p95
before anyone called it an outage). It logs in as SMOKE_EMAIL / SMOKE_PASSWORD,
registering that user on first use, then calls ``GET /health``, ``POST
/v1/auth/login`` and ``GET /v1/home`` a few dozen times each (login fewer:
argon2 is deliberately slow), prints p50 / p95 / max per endpoint, and exits 1
if any call failed or a p95 is over its limit, 2 if it could not log in at all.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_EMAIL = "smoke@example.com"
# Only for loopback URLs (make run): anywhere else SMOKE_PASSWORD is required.
DEFAULT_PASSWORD = "pacer smoke check password"
# p95 limits in ms. Login is argon2id (~0.1-0.3 s a hash with the default cost,
# two at a time); health and home are a few ms on an idle stack, so these leave
# room for a busy droplet and a slow link while still catching a stalled API.
DEFAULT_P95_MS = {"health": 200.0, "login": 1500.0, "home": 300.0}


class SmokeError(Exception):
    """The check could not run at all (nothing listens, the login is refused)."""


@dataclass
class Timings:
    name: str
    limit_p95_ms: float
    durations_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.durations_ms) + len(self.failures)

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile: a value that was actually measured."""
        ordered = sorted(self.durations_ms)
        if not ordered:
            return math.nan
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    @property
    def ok(self) -> bool:
        return not self.failures and self.percentile(95) <= self.limit_p95_ms


def _measure(timings: Timings, count: int, call: Callable[[], httpx.Response]) -> None:
    for _ in range(count):
        started = time.perf_counter()
        try:
            response = call()
        except httpx.HTTPError as error:
            timings.failures.append(f"{type(error).__name__}: {error}")
            continue
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.is_success:
            timings.durations_ms.append(elapsed_ms)
        else:
            timings.failures.append(f"HTTP {response.status_code}: {response.text[:200]}")


def _login(http: httpx.Client, email: str, password: str) -> httpx.Response:
    return http.post("/v1/auth/login", json={"email": email, "password": password})


def _access_token(http: httpx.Client, email: str, password: str) -> str:
    """Log in, registering the smoke user the first time."""
    response = _login(http, email, password)
    if response.status_code == 401:
        registered = http.post(
            "/v1/auth/register", json={"email": email, "password": password, "name": "Smoke"}
        )
        if registered.status_code not in (201, 409):
            raise SmokeError(
                f"registering {email} failed: HTTP {registered.status_code} {registered.text[:200]}"
            )
        response = _login(http, email, password)
    if response.status_code != 200:
        raise SmokeError(
            f"login as {email} failed: HTTP {response.status_code} {response.text[:200]} "
            "(an existing user with another password? set SMOKE_PASSWORD)"
        )
    return str(response.json()["access_token"])


def run(
    url: str,
    email: str,
    password: str,
    calls: int,
    login_calls: int,
    limits_ms: dict[str, float],
    timeout_s: float,
) -> list[Timings]:
    health = Timings("GET /health", limits_ms["health"])
    login = Timings("POST /v1/auth/login", limits_ms["login"])
    home = Timings("GET /v1/home", limits_ms["home"])
    with httpx.Client(base_url=url, timeout=timeout_s) as http:
        try:
            token = _access_token(http, email, password)
        except httpx.HTTPError as error:
            raise SmokeError(f"cannot reach {url}: {type(error).__name__}: {error}") from error
        auth = {"Authorization": f"Bearer {token}"}
        _measure(health, calls, lambda: http.get("/health"))
        _measure(login, login_calls, lambda: _login(http, email, password))
        _measure(home, calls, lambda: http.get("/v1/home", headers=auth))
    return [health, login, home]


def table(results: Sequence[Timings]) -> str:
    rows = [
        f"{'endpoint':<22}{'calls':>6}{'failed':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
        f"{'p95 limit':>10}  result"
    ]
    for timings in results:
        worst = max(timings.durations_ms, default=math.nan)
        rows.append(
            f"{timings.name:<22}{timings.calls:>6}{len(timings.failures):>7}"
            f"{timings.percentile(50):>9.1f}{timings.percentile(95):>9.1f}{worst:>9.1f}"
            f"{timings.limit_p95_ms:>10.0f}  {'ok' if timings.ok else 'FAIL'}"
        )
    return "\n".join(rows)


def _on_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw is None or raw == "" else float(raw)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pacer_devstack.smoke",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default=os.environ.get("SMOKE_URL", DEFAULT_URL))
    parser.add_argument("--email", default=os.environ.get("SMOKE_EMAIL", DEFAULT_EMAIL))
    parser.add_argument(
        "--password",
        default=os.environ.get("SMOKE_PASSWORD"),
        help="env SMOKE_PASSWORD; required unless the URL is on loopback",
    )
    parser.add_argument("--calls", type=int, default=30, help="calls to /health and /v1/home")
    parser.add_argument("--login-calls", type=int, default=10)
    parser.add_argument("--timeout-s", type=float, default=10.0, help="per call")
    for name, default in DEFAULT_P95_MS.items():
        parser.add_argument(
            f"--p95-{name}-ms",
            type=float,
            default=_env_float(f"SMOKE_P95_{name.upper()}_MS", default),
            help=f"env SMOKE_P95_{name.upper()}_MS, default {default:g}",
        )
    args = parser.parse_args(argv)
    if args.calls < 1 or args.login_calls < 1:
        parser.error("--calls and --login-calls must be at least 1")
    limits_ms = {name: getattr(args, f"p95_{name}_ms") for name in DEFAULT_P95_MS}
    url = args.url.rstrip("/")
    if args.password is None:
        if not _on_loopback(url):
            # A default password would let anyone log in as the smoke user in production.
            parser.error("set SMOKE_PASSWORD (or --password) for a URL other than loopback")
        args.password = DEFAULT_PASSWORD
    try:
        results = run(
            url, args.email, args.password, args.calls, args.login_calls, limits_ms, args.timeout_s
        )
    except SmokeError as error:
        print(f"smoke {url}: FAIL: {error}", flush=True)
        return 2
    print(f"smoke {url}")
    print(table(results))
    for timings in results:
        for failure in sorted(set(timings.failures)):
            print(f"  {timings.name}: {failure}")
    passed = all(timings.ok for timings in results)
    print(f"smoke: {'PASS' if passed else 'FAIL'}", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
