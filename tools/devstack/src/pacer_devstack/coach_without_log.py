"""``python -m pacer_devstack.coach_without_log``: the coach with its reply logs in memory.

For ``make bench-coach`` only (:mod:`pacer_devstack.bench_reply_log`): the same
coach, settings and code as ``python -m pacer_coach``, but its reply-log client
is :class:`~pacer_devstack.memory_reply_log.MemoryReplyLog`, so the benchmark
measures what the Redis log costs. NOT DURABLE: no resume on another coach,
nothing survives a restart.
"""

from __future__ import annotations

from typing import cast

import redis.asyncio as redis

from pacer_coach.__main__ import run
from pacer_devstack.memory_reply_log import MemoryReplyLog


def main() -> None:
    # It answers the commands the reply log sends, as Redis does.
    run(reply_log=cast(redis.Redis, MemoryReplyLog()))


if __name__ == "__main__":
    main()
