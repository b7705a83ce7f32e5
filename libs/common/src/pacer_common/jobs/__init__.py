"""Background jobs, shared by core-api (triggers, home, admin) and the briefing worker.

- :mod:`.settings`: the thresholds both sides must agree on.
- :mod:`.ledger`: the Postgres ``jobs`` table, every state change in one place.
- :mod:`.queue`: arq enqueueing (job ids, debounce, backoff).
- :mod:`.briefing_cache`: the Redis cache home reads and the worker writes.
- :mod:`.events`: the per-athlete Redis channel that job timeouts and failures go to.
"""
