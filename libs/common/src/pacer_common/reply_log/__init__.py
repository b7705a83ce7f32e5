"""A chat reply's log in Redis (``pacer:reply:<message id>``, a Stream): the one home of its format.

The coach that runs a reply's LLM call (its producer) appends ``meta``,
coalesced ``delta`` entries, a ``tool`` entry as each tool call starts and
ends, an optional ``error`` and one ``done``; any coach
replays it to a client that reconnects (``Last-Event-ID``); a dead producer's
reply is settled from it, so the text a client saw is never lost with the
process that produced it. Every writer and reader goes through this package:

- :mod:`~pacer_common.reply_log.entries`: the entry kinds, their fields, and the
  builders of ``meta``/``delta``/``tool``/``error``/``done`` (a ``done`` is always final);
- :mod:`~pacer_common.reply_log.reading`: a log read back (:class:`LoggedReply`),
  the producer's heartbeat, the tool calls a dead producer left running;
- :mod:`~pacer_common.reply_log.writing`: the commands a writer sends, with the
  log's TTLs, and the cancel/end arbiter;
- :mod:`~pacer_common.reply_log.settle`: settling a reply whose producer is gone
  (from its log, or from its row when it has none; each tool call still
  ``running`` closed with ``error: "interrupted"``), and the reaper's pass.

Entry ids are Redis Stream ids, parsed by :mod:`pacer_common.stream_id`; the
keys and TTLs are in :mod:`pacer_common.redis_names`. A package rather than one
module: these are four concepts with different users (the coach's hot path
needs only the first three; the worker only reading and settling).

Needs the ``jobs`` extra of pacer-common (redis).
"""

from __future__ import annotations

from pacer_common.reply_log.entries import Entry, Kind
from pacer_common.reply_log.reading import LoggedReply, producer_alive, read_log
from pacer_common.reply_log.settle import (
    Settled,
    settle_dead_producers,
    settle_from_log,
    settle_without_log,
)

__all__ = [
    "Entry",
    "Kind",
    "LoggedReply",
    "Settled",
    "producer_alive",
    "read_log",
    "settle_dead_producers",
    "settle_from_log",
    "settle_without_log",
]
