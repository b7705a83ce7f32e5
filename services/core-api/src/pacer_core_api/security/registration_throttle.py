"""Limit registrations per client address and for everyone together, in Redis.

Counted in fixed windows before the password is hashed, so a refused sign-up
costs one Redis call, not a hash, a row or any LLM work. Both counts are taken
in one Lua script: a refused attempt adds to neither. A refusal is 429 with
``Retry-After``: the rest of the window that is full.

Fails open when Redis is unreachable (a warning is logged), like the login
throttle: sign-ups then stay bounded by ``REGISTER_HASH_CONCURRENCY``.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

from pacer_common import redis_names
from pacer_common.errors import TooManyRequests
from pacer_common.logs import get_logger

log = get_logger(__name__)

# KEYS: the address's count, everyone's count. ARGV: their limits and windows.
# Returns {0, 0} when admitted, else {1 (address) or 2 (everyone), retry after s}.
_ADMIT = """
for index = 1, 2 do
    local count = tonumber(redis.call('GET', KEYS[index]) or '0')
    if count >= tonumber(ARGV[index]) then
        return {index, math.max(redis.call('TTL', KEYS[index]), 1)}
    end
end
for index = 1, 2 do
    if redis.call('INCR', KEYS[index]) == 1 or redis.call('TTL', KEYS[index]) < 0 then
        redis.call('EXPIRE', KEYS[index], ARGV[index + 2])
    end
end
return {0, 0}
"""


@dataclass(frozen=True, slots=True)
class RegistrationLimits:
    max_per_ip: int
    ip_window_s: int
    max_global: int
    global_window_s: int


class RegistrationThrottle:
    def __init__(self, client: redis.Redis, limits: RegistrationLimits) -> None:
        self._limits = limits
        self._admit = client.register_script(_ADMIT)

    async def admit(self, ip: str) -> None:
        """Count one registration from ``ip``, or raise 429 without counting it."""
        limits = self._limits
        try:
            scope, wait_s = await self._admit(
                keys=[redis_names.REGISTER_IP_PREFIX + ip, redis_names.REGISTER_ALL_KEY],
                args=[
                    limits.max_per_ip,
                    limits.max_global,
                    limits.ip_window_s,
                    limits.global_window_s,
                ],
            )
        except RedisError as error:
            log.warning("registration_throttle_unavailable", error=type(error).__name__)
            return
        if scope:
            if scope == 2:
                log.warning("registrations_throttled_globally")
            where = "from this address" if scope == 1 else "right now"
            raise TooManyRequests(
                f"Too many sign-ups {where}; try again later.", retry_after_s=int(wait_s)
            )
