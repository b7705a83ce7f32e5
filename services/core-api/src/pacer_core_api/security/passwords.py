"""argon2id password hashing, off the event loop and with bounded concurrency."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    def __init__(
        self, *, time_cost: int, memory_kib: int, parallelism: int, concurrency: int
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Each hash holds memory_kib of RAM and a core for tens of ms; the
        # semaphore caps both. argon2-cffi releases the GIL, so a thread runs
        # it truly beside the event loop (this is CPU work, not DB work).
        self._slots = asyncio.Semaphore(concurrency)
        # Verified against when the email is unknown, so that a login for a
        # missing account costs the same time as one with a wrong password.
        self._dummy_hash = self._hasher.hash("pacer-dummy-password")

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        async with self._slots:
            return (
                await asyncio.to_thread(
                    self._verify_sync, password_hash or self._dummy_hash, password
                )
                and password_hash is not None
            )

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
