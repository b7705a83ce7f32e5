"""Limit the login attempts checked per account and per client address, in Redis.

An attempt takes a slot *before* its password is checked, in one Lua script
(atomic in Redis): it is admitted only while ``failures + in flight`` is under
the limit, for the account and for the address alike. So however many attempts
arrive at once, at most the limit are ever checked per window. When the check
ends, the slot is given back; a wrong password also adds one failure. Failures
are counted in fixed windows started by the first failure; a success does not
erase them (it would reopen the window to whoever is guessing).

A refusal because of failures says ``Retry-After: <rest of the window>``; one
because of attempts still in flight says ``Retry-After: 1``: nothing has failed.

If Redis is unreachable the throttle fails open (logins keep working, a warning
is logged): locking every athlete out because the cache is down would be the
bigger outage. Password checks stay bounded by ``PASSWORD_HASH_CONCURRENCY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

from pacer_common import redis_names
from pacer_common.errors import TooManyRequests
from pacer_common.logs import get_logger

log = get_logger(__name__)


# KEYS: account failures, account in flight, address failures, address in flight.
# ARGV: account limit, address limit, in-flight TTL in seconds.
# Returns {0, 0, 0} when admitted, else {1 (account) or 2 (address),
# 1 if only attempts in flight stand in the way else 0, retry after s}.
_ADMIT = """
local function refusal(failures_key, in_flight_key, limit)
    local failures = tonumber(redis.call('GET', failures_key) or '0')
    if failures >= limit then
        return {0, math.max(redis.call('TTL', failures_key), 1)}
    end
    if failures + tonumber(redis.call('GET', in_flight_key) or '0') >= limit then
        return {1, 1}
    end
    return nil
end
local refused = refusal(KEYS[1], KEYS[2], tonumber(ARGV[1]))
if refused then return {1, refused[1], refused[2]} end
refused = refusal(KEYS[3], KEYS[4], tonumber(ARGV[2]))
if refused then return {2, refused[1], refused[2]} end
for _, key in ipairs({KEYS[2], KEYS[4]}) do
    -- The TTL is set when the count starts, not renewed: a slot leaked by a
    -- crashed request must not live as long as attempts keep arriving.
    if redis.call('INCR', key) == 1 or redis.call('TTL', key) < 0 then
        redis.call('EXPIRE', key, ARGV[3])
    end
end
return {0, 0, 0}
"""

# KEYS: as for _ADMIT. ARGV: 1 if the attempt failed else 0, window in seconds.
_FINISH = """
for _, pair in ipairs({{KEYS[1], KEYS[2]}, {KEYS[3], KEYS[4]}}) do
    if tonumber(redis.call('GET', pair[2]) or '0') > 0 then
        redis.call('DECR', pair[2])
    end
    if ARGV[1] == '1' then
        redis.call('INCR', pair[1])
        -- The first failure starts the window (and a key left without a TTL gets one).
        if redis.call('TTL', pair[1]) < 0 then
            redis.call('EXPIRE', pair[1], ARGV[2])
        end
    end
end
return 0
"""


@dataclass(slots=True)
class LoginAttempt:
    """An admitted attempt; call ``failed()`` when the credentials are wrong."""

    is_failure: bool = False

    def failed(self) -> None:
        self.is_failure = True


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
        self._admit = client.register_script(_ADMIT)
        self._finish = client.register_script(_FINISH)

    def _keys(self, email: str, ip: str) -> list[str]:
        # Hash the email: Redis keys show up in monitoring, emails should not.
        account = hashlib.sha256(email.lower().encode("utf-8")).hexdigest()[:32]
        account_key = redis_names.LOGIN_FAILURES_ACCOUNT_PREFIX + account
        ip_key = redis_names.LOGIN_FAILURES_IP_PREFIX + ip
        return [
            account_key,
            account_key + redis_names.LOGIN_IN_FLIGHT_SUFFIX,
            ip_key,
            ip_key + redis_names.LOGIN_IN_FLIGHT_SUFFIX,
        ]

    @contextlib.asynccontextmanager
    async def attempt(self, email: str, ip: str) -> AsyncIterator[LoginAttempt]:
        """Admit one login attempt or raise 429; count it as the block ends.

        Example::

            async with throttle.attempt(email, ip) as attempt:
                if not await passwords.verify(stored_hash, password):
                    attempt.failed()
                    raise Unauthorized(...)

        Leaving the block by any other error gives the slot back uncounted.
        """
        names = self._keys(email, ip)
        try:
            scope, busy, wait_s = await self._admit(
                keys=names,
                args=[
                    self._max_per_account,
                    self._max_per_ip,
                    redis_names.LOGIN_IN_FLIGHT_TTL_SECONDS,
                ],
            )
        except RedisError as error:
            log.warning("login_throttle_unavailable", error=type(error).__name__)
            yield LoginAttempt()
            return
        if scope:
            where = "for this account" if scope == 1 else "from this address"
            message = (
                f"Too many logins at once {where}; try again in a second."
                if busy
                else f"Too many failed logins {where}; try again later."
            )
            raise TooManyRequests(message, retry_after_s=int(wait_s))
        attempt = LoginAttempt()
        try:
            yield attempt
        finally:
            try:
                # Shielded: a cancelled request still gives its slot back and
                # still counts a failure it had recorded.
                await asyncio.shield(
                    self._finish(keys=names, args=[int(attempt.is_failure), self._window_s])
                )
            except RedisError as error:
                # The slot frees itself after redis_names.LOGIN_IN_FLIGHT_TTL_SECONDS.
                log.warning("login_throttle_unavailable", error=type(error).__name__)
