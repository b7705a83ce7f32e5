"""Redis key prefixes used by core-api, in one place. TTLs carry their unit."""

from __future__ import annotations

LOGIN_FAILURES_ACCOUNT = "pacer:login-failures:account:"
LOGIN_FAILURES_IP = "pacer:login-failures:ip:"
