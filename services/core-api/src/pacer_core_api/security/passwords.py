"""argon2id password hashing, off the event loop and with bounded concurrency.

Logins and sign-ups hash in separate slots: a flood of registrations queues
behind its own ``signup_concurrency`` and never ahead of a login.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    def __init__(
        self,
        *,
        time_cost: int,
        memory_kib: int,
        parallelism: int,
        concurrency: int,
        signup_concurrency: int,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Each hash holds memory_kib of RAM and a core for tens of ms; the
        # semaphores cap both. argon2-cffi releases the GIL, so a thread runs
        # it truly beside the event loop (this is CPU work, not DB work).
        self._login_slots = asyncio.Semaphore(concurrency)
        self._signup_slots = asyncio.Semaphore(signup_concurrency)
        # Verified against when the email is unknown, so that a login for a
        # missing account costs the same time as one with a wrong password.
        self._dummy_hash = self._hasher.hash("pacer-dummy-password")

    async def hash(self, password: str) -> str:
        """A new account's hash, in the sign-ups' slots."""
        async with self._signup_slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """A login's check, in the logins' slots. ``None`` (no such account) checks
        against the dummy hash, at the same cost, and is False."""
        async with self._login_slots:
            matches = await asyncio.to_thread(
                self._verify_sync, password_hash or self._dummy_hash, password
            )
        return matches and password_hash is not None

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
