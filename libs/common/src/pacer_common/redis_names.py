"""Every Redis key, channel and queue name Pacer uses, and their TTLs, in one place.

As arq keeps its ``constants.py``: a name here is the only spelling of it, so
``grep`` for the constant finds every reader and writer, and every TTL carries
its unit. arq's own keys (``arq:job:<id>``, ``arq:in-progress:<id>``...) are
arq's business; the one of them Pacer reads, the health line, is built from
arq's own suffix, not spelled again.

Needs nothing but the standard library (arq only for ``health_check_key``).

- ``pacer:login-failures:account-ip:<sha256>``, ``pacer:login-failures:ip:<address>``,
  ``pacer:login-failures:account:<sha256>``: core-api's login throttle (per account and
  address, per address, per account); expire LOGIN_FAILURE_WINDOW_SECONDS after the first
  failure. The first two have a ``...:in-flight`` twin counting attempts being checked
  right now; LOGIN_IN_FLIGHT_TTL_SECONDS after the last admission.
- ``pacer:login-known:<sha256>``: an (account, address) pair that signed in;
  LOGIN_KNOWN_PAIR_TTL_SECONDS from the last success.
- ``pacer:register:ip:<address>``, ``pacer:register:all``: core-api's registration
  throttle; expire after REGISTER_IP_WINDOW_SECONDS / REGISTER_GLOBAL_WINDOW_SECONDS.
- ``pacer:first-briefings``: how many first briefings home queued in this minute
  (NEW_ACCOUNT_BRIEFINGS_PER_MINUTE); FIRST_BRIEFINGS_WINDOW_SECONDS.
- ``pacer:briefing:<athlete>``: written by the worker, read by home; BRIEFING_TTL_SECONDS.
- ``pacer:briefing-failure:<athlete>``: the worker; BRIEFING_FAILURE_TTL_SECONDS.
- ``pacer:briefing-requested:<athlete>``: home's debounce of refresh requests; TTL per call.
- ``pacer:reply:<message>``: a chat reply's log (a Stream: meta, deltas, error?, done), written by
  the coach that runs the LLM call, read by any coach (resume) and the reaper; capped at
  REPLY_LOG_MAXLEN entries, REPLY_LOG_STREAMING_TTL_SECONDS while written, then the coach's
  REPLY_LOG_TTL_SECONDS (default DEFAULT_REPLY_LOG_TTL_SECONDS) after ``done``.
- ``pacer:reply:<message>:alive``: the producer's heartbeat; REPLY_HEARTBEAT_TTL_SECONDS.
- ``pacer:reply:<message>:cancel``: set by a cancel on any coach, read by the producer;
  REPLY_CANCEL_TTL_SECONDS.
- ``pacer:notify:<user>``: the user's notification stream (a Redis Stream), read by
  the coach's ``GET /v1/coach/events``; written by the worker (briefings, jobs) and
  later the coach. At most ~NOTIFY_MAXLEN entries (approximate MAXLEN: Redis trims
  whole nodes, so a few more may stay), gone NOTIFY_TTL_SECONDS after the last write.
- ``<JOB_QUEUE_NAME>`` (default ``pacer:jobs``): arq's queue; core-api, the coach (extractions), the worker, ``pacer-jobs``.
- ``<JOB_QUEUE_NAME>:health-check``: arq's health line, written by the worker.
"""

from __future__ import annotations

from uuid import UUID

# -- core-api: failed logins, a fixed window from the first failure ------------
# Followed by a hash of the email (keys show in monitoring, emails must not).
LOGIN_FAILURES_ACCOUNT_PREFIX = "pacer:login-failures:account:"
# Followed by a hash of the email and the client's address together.
LOGIN_FAILURES_PAIR_PREFIX = "pacer:login-failures:account-ip:"
# The same hash: this account signed in from this address (the per-address
# limit does not stop it there). Renewed by each success.
LOGIN_KNOWN_PAIR_PREFIX = "pacer:login-known:"
LOGIN_KNOWN_PAIR_TTL_SECONDS = 30 * 86_400
# Followed by the client's address.
LOGIN_FAILURES_IP_PREFIX = "pacer:login-failures:ip:"
# Appended to either key above: the attempts admitted and not yet decided.
LOGIN_IN_FLIGHT_SUFFIX = ":in-flight"
# A slot held by a request that never ended (a crashed process) frees itself
# this long after the last admission; far above any login's duration.
LOGIN_IN_FLIGHT_TTL_SECONDS = 60

# -- core-api: registrations, fixed windows (TTLs are the settings' windows) ----
# Followed by the client's address.
REGISTER_IP_PREFIX = "pacer:register:ip:"
REGISTER_ALL_KEY = "pacer:register:all"
# First briefings (an athlete with none yet) queued by home, per minute, all athletes.
FIRST_BRIEFINGS_KEY = "pacer:first-briefings"
FIRST_BRIEFINGS_WINDOW_SECONDS = 60

# -- the briefing cache: the worker writes, home reads ---------------------------
BRIEFING_PREFIX = "pacer:briefing:"
# A briefing older than BRIEFING_STALE_MAX_SECONDS is never served: let Redis forget it.
BRIEFING_TTL_SECONDS = 2 * 86_400
BRIEFING_FAILURE_PREFIX = "pacer:briefing-failure:"
BRIEFING_FAILURE_TTL_SECONDS = 7 * 86_400
# Set for a short while when home asks for a refresh (its TTL is given per call),
# so that repeated home views of a stale briefing write one ledger row, not one per view.
BRIEFING_REQUESTED_PREFIX = "pacer:briefing-requested:"

# -- notifications: one Redis Stream per user ----------------------------------
NOTIFY_PREFIX = "pacer:notify:"
# Enough for a client offline through a day of briefings and jobs; a client
# further behind gets `reset` and reloads its state instead of a replay.
NOTIFY_MAXLEN = 100
# Refreshed on every write: an idle user's stream costs nothing after a day.
NOTIFY_TTL_SECONDS = 86_400

# -- chat replies: one log per assistant message (pacer_common.reply_log) -------
REPLY_LOG_PREFIX = "pacer:reply:"
# Far above any reply (deltas are coalesced: one entry per flush window).
REPLY_LOG_MAXLEN = 20_000
# Refreshed with the heartbeat while the producer runs: long enough that the reaper,
# which settles a dead producer's row from its log, finds the log.
REPLY_LOG_STREAMING_TTL_SECONDS = 3_600
DEFAULT_REPLY_LOG_TTL_SECONDS = 600
# Refreshed about every second by the producer: gone within a few seconds of its death.
REPLY_HEARTBEAT_TTL_SECONDS = 4
REPLY_CANCEL_TTL_SECONDS = 300

# -- arq ------------------------------------------------------------------------
# The default of JOB_QUEUE_NAME: a different name per deployment sharing one Redis.
DEFAULT_JOB_QUEUE_NAME = "pacer:jobs"


def briefing_key(athlete_id: UUID | str) -> str:
    return f"{BRIEFING_PREFIX}{athlete_id}"


def briefing_failure_key(athlete_id: UUID | str) -> str:
    return f"{BRIEFING_FAILURE_PREFIX}{athlete_id}"


def briefing_requested_key(athlete_id: UUID | str) -> str:
    return f"{BRIEFING_REQUESTED_PREFIX}{athlete_id}"


def notify_key(user_id: UUID | str) -> str:
    return f"{NOTIFY_PREFIX}{user_id}"


def reply_log_key(message_id: UUID | str) -> str:
    return f"{REPLY_LOG_PREFIX}{message_id}"


def reply_heartbeat_key(message_id: UUID | str) -> str:
    return f"{REPLY_LOG_PREFIX}{message_id}:alive"


def reply_cancel_key(message_id: UUID | str) -> str:
    return f"{REPLY_LOG_PREFIX}{message_id}:cancel"


def health_check_key(queue_name: str) -> str:
    """Where arq's worker writes its health line (``arq --check`` reads it too)."""
    # Imported here: arq is pacer_common's `jobs` extra, not part of its base install.
    from arq.constants import health_check_key_suffix

    return f"{queue_name}{health_check_key_suffix}"
