"""Count failed logins per account and per client address in Redis.

Fixed windows started by the first failure. If Redis is unreachable the
throttle fails open (logins keep working, a warning is logged): locking every
athlete out because the cache is down would be the bigger outage.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as redis
from redis.exceptions import RedisError

from pacer_common import redis_names
from pacer_common.errors import TooManyRequests
from pacer_common.logs import get_logger

log = get_logger(__name__)


class LoginThrottle:
    def __init__(
        self,
        client: redis.Redis,
        *,
        max_per_account: int,
        max_per_ip: int,
        window_s: int,
    ) -> None:
        self._redis = client
        self._max_per_account = max_per_account
        self._max_per_ip = max_per_ip
        self._window_s = window_s

    def _keys(self, email: str, ip: str) -> tuple[str, str]:
        # Hash the email: Redis keys show up in monitoring, emails should not.
        account = hashlib.sha256(email.lower().encode("utf-8")).hexdigest()[:32]
        return (
            redis_names.LOGIN_FAILURES_ACCOUNT_PREFIX + account,
            redis_names.LOGIN_FAILURES_IP_PREFIX + ip,
        )

    async def check(self, email: str, ip: str) -> None:
        """Raise 429 if this account or address is locked out."""
        account_key, ip_key = self._keys(email, ip)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(account_key)
                pipe.ttl(account_key)
                pipe.get(ip_key)
                pipe.ttl(ip_key)
                account_count, account_ttl, ip_count, ip_ttl = await pipe.execute()
        except RedisError as error:
            log.warning("login_throttle_unavailable", error=type(error).__name__)
            return
        if account_count is not None and int(account_count) >= self._max_per_account:
            raise TooManyRequests(
                "Too many failed logins for this account; try again later.",
                retry_after_s=int(account_ttl),
            )
        if ip_count is not None and int(ip_count) >= self._max_per_ip:
            raise TooManyRequests(
                "Too many failed logins from this address; try again later.",
                retry_after_s=int(ip_ttl),
            )

    async def record_failure(self, email: str, ip: str) -> None:
        account_key, ip_key = self._keys(email, ip)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key in (account_key, ip_key):
                    pipe.incr(key)
                    pipe.expire(key, self._window_s, nx=True)
                await pipe.execute()
        except RedisError as error:
            log.warning("login_throttle_unavailable", error=type(error).__name__)

    async def record_success(self, email: str, ip: str) -> None:
        account_key, _ = self._keys(email, ip)
        try:
            await self._redis.delete(account_key)
        except RedisError as error:
            log.warning("login_throttle_unavailable", error=type(error).__name__)
