"""Limit failed logins the way OWASP's authentication cheat sheet advises, in Redis.

Three counts of failures, each in a fixed window started by its first failure
(``LOGIN_FAILURE_WINDOW_SECONDS``):

- per (account, address): past ``LOGIN_MAX_FAILURES_PER_ACCOUNT_AND_IP`` that
  address gets 429 for that account, the right password included;
- per address: past ``LOGIN_MAX_FAILURES_PER_IP`` that address gets 429 for
  every account it has not signed in to before (one address spraying many
  accounts); an (account, address) pair that signed in within
  ``redis_names.LOGIN_KNOWN_PAIR_TTL_SECONDS`` (30 days) is not stopped by it, so a stranger
  behind a shared NAT cannot lock out the people who sign in from there;
- per account, from anywhere: never a refusal. Past
  ``LOGIN_ACCOUNT_SLOWDOWN_AFTER_FAILURES`` each attempt waits first (0.5 s,
  doubling with every further failure, at most ``LOGIN_ACCOUNT_MAX_DELAY_SECONDS``),
  so a stranger's failures slow the owner's correct sign-in from elsewhere down
  but never refuse it.

An attempt takes a slot *before* its password is checked, in one Lua script
(atomic in Redis): it is admitted only while ``failures + in flight`` is under
the limit, for the pair and the address alike, so however many attempts arrive
at once, at most the limit are ever checked. When the check ends the slot is
given back; a wrong password adds one failure to all three counts, a right one
remembers the pair. A success does not erase failures (it would reopen the
window to whoever is guessing).

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
from typing import Literal

import redis.asyncio as redis
from redis.exceptions import RedisError

from pacer_common import redis_names
from pacer_common.errors import TooManyRequests
from pacer_common.logs import get_logger

log = get_logger(__name__)

# The first wait once the account's failures reach the slowdown threshold;
# it doubles with each further failure, up to the configured maximum.
FIRST_DELAY_S = 0.5

# KEYS: pair failures, pair in flight, address failures, address in flight,
# account failures, the pair's "signed in here before" mark.
# ARGV: pair limit, address limit, in-flight TTL in seconds.
# Returns {0, 0, 0, account failures} when admitted, else {1 (pair) or 2
# (address), 1 if only attempts in flight stand in the way else 0, retry after s, 0}.
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
if refused then return {1, refused[1], refused[2], 0} end
if redis.call('EXISTS', KEYS[6]) == 0 then
    refused = refusal(KEYS[3], KEYS[4], tonumber(ARGV[2]))
    if refused then return {2, refused[1], refused[2], 0} end
end
for _, key in ipairs({KEYS[2], KEYS[4]}) do
    -- The TTL is set when the count starts, not renewed: a slot leaked by a
    -- crashed request must not live as long as attempts keep arriving.
    if redis.call('INCR', key) == 1 or redis.call('TTL', key) < 0 then
        redis.call('EXPIRE', key, ARGV[3])
    end
end
return {0, 0, 0, tonumber(redis.call('GET', KEYS[5]) or '0')}
"""

# KEYS: as for _ADMIT. ARGV: "failed", "succeeded" or "abandoned"; window in
# seconds; how long a success marks the pair, in seconds.
_FINISH = """
for _, key in ipairs({KEYS[2], KEYS[4]}) do
    if tonumber(redis.call('GET', key) or '0') > 0 then
        redis.call('DECR', key)
    end
end
if ARGV[1] == 'failed' then
    for _, key in ipairs({KEYS[1], KEYS[3], KEYS[5]}) do
        redis.call('INCR', key)
        -- The first failure starts the window (and a key left without a TTL gets one).
        if redis.call('TTL', key) < 0 then
            redis.call('EXPIRE', key, ARGV[2])
        end
    end
elseif ARGV[1] == 'succeeded' then
    redis.call('SET', KEYS[6], '1', 'EX', ARGV[3])
end
return 0
"""

Outcome = Literal["failed", "succeeded", "abandoned"]


@dataclass(slots=True)
class LoginAttempt:
    """An admitted attempt: call ``failed()`` or ``succeeded()`` once the password is checked."""

    outcome: Outcome = "abandoned"

    def failed(self) -> None:
        self.outcome = "failed"

    def succeeded(self) -> None:
        self.outcome = "succeeded"


@dataclass(frozen=True, slots=True)
class LoginLimits:
    max_per_account_and_ip: int
    max_per_ip: int
    account_slowdown_after: int
    account_max_delay_s: float
    window_s: int

    def delay_s(self, account_failures: int) -> float:
        """How long an attempt waits, given the account's failures in the window."""
        if account_failures < self.account_slowdown_after:
            return 0.0
        doublings = min(account_failures - self.account_slowdown_after, 16)
        return min(self.account_max_delay_s, FIRST_DELAY_S * float(2**doublings))


def _digest(*parts: str) -> str:
    # Hashed: Redis keys show up in monitoring, emails should not.
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:32]


def _refused(scope: int, busy: bool, wait_s: int) -> TooManyRequests:
    """The 429 for an attempt the admit script turned away (scope 1: the account from this
    address, 2: the address), busy when too many are in flight rather than too many failed."""
    where = "for this account from this address" if scope == 1 else "from this address"
    message = (
        f"Too many logins at once {where}; try again in a second."
        if busy
        else f"Too many failed logins {where}; try again later."
    )
    return TooManyRequests(message, retry_after_s=wait_s)


class LoginThrottle:
    def __init__(self, client: redis.Redis, limits: LoginLimits) -> None:
        self._redis = client
        self._limits = limits
        self._admit = client.register_script(_ADMIT)
        self._finish = client.register_script(_FINISH)

    def _keys(self, email: str, ip: str) -> list[str]:
        account = _digest(email.lower())
        pair = _digest(email.lower(), ip)
        pair_key = redis_names.LOGIN_FAILURES_PAIR_PREFIX + pair
        ip_key = redis_names.LOGIN_FAILURES_IP_PREFIX + ip
        return [
            pair_key,
            pair_key + redis_names.LOGIN_IN_FLIGHT_SUFFIX,
            ip_key,
            ip_key + redis_names.LOGIN_IN_FLIGHT_SUFFIX,
            redis_names.LOGIN_FAILURES_ACCOUNT_PREFIX + account,
            redis_names.LOGIN_KNOWN_PAIR_PREFIX + pair,
        ]

    @contextlib.asynccontextmanager
    async def attempt(self, email: str, ip: str) -> AsyncIterator[LoginAttempt]:
        """Admit one login attempt or raise 429, wait out the account's slowdown;
        count it as the block ends.

        Example::

            async with throttle.attempt(email, ip) as attempt:
                if not await passwords.verify(stored_hash, password):
                    attempt.failed()
                    raise Unauthorized(...)
                attempt.succeeded()

        Leaving the block by any other error gives the slot back uncounted.
        """
        names = self._keys(email, ip)
        try:
            scope, busy, wait_s, account_failures = await self._admit(
                keys=names,
                args=[
                    self._limits.max_per_account_and_ip,
                    self._limits.max_per_ip,
                    redis_names.LOGIN_IN_FLIGHT_TTL_SECONDS,
                ],
            )
        except RedisError as error:
            log.warning("login_throttle_unavailable", error=type(error).__name__)
            yield LoginAttempt()
            return
        if scope:
            raise _refused(int(scope), bool(busy), int(wait_s))
        attempt = LoginAttempt()
        try:
            delay_s = self._limits.delay_s(int(account_failures))
            if delay_s:
                # Slowed, not refused: the owner still gets in, a guesser gets few tries.
                log.info("login_slowed", delay_s=delay_s)
                await asyncio.sleep(delay_s)
            yield attempt
        finally:
            try:
                # Shielded: a cancelled request still gives its slot back and
                # still counts a failure it had recorded.
                await asyncio.shield(
                    self._finish(
                        keys=names,
                        args=[
                            attempt.outcome,
                            self._limits.window_s,
                            redis_names.LOGIN_KNOWN_PAIR_TTL_SECONDS,
                        ],
                    )
                )
            except RedisError as error:
                # The slot frees itself after redis_names.LOGIN_IN_FLIGHT_TTL_SECONDS.
                log.warning("login_throttle_unavailable", error=type(error).__name__)
