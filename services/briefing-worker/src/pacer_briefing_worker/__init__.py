"""pacer-briefing-worker: the arq worker (``python -m pacer_briefing_worker``) that
precomputes each athlete's home briefing, turns each ended coaching session into its
structured result (the extraction job), and keeps the Postgres jobs ledger honest.
``pacer-jobs`` (:mod:`~pacer_briefing_worker.cli`) is the same ledger from a terminal.

Where to read what, in the order a job meets it:

- :mod:`~pacer_briefing_worker.worker`: arq's options (functions, cron, queue,
  timeouts) and what start-up opens into one ``AsyncExitStack`` that shutdown closes;
- :mod:`~pacer_briefing_worker.state`: alerts, outcomes and the reaper wired once
  (for the worker, ``pacer-jobs`` and the tests), and what jobs read from arq's ctx;
- :mod:`~pacer_briefing_worker.jobs`: the arq functions by job kind (the kinds are
  named once, in :mod:`pacer_common.jobs.queue`) and the cron;
- :mod:`~pacer_briefing_worker.runner`: one attempt of a ledger job (claim,
  heartbeat, the outcome recorded whatever way it ends);
- :mod:`~pacer_briefing_worker.briefing` and :mod:`~pacer_briefing_worker.extraction`:
  the two jobs' work;
- :mod:`~pacer_briefing_worker.outcomes`: what follows an outcome (the next attempt,
  alerts, the follow-up run, a failed extraction's session);
- :mod:`~pacer_briefing_worker.reaper`: what a dead or frozen process left behind;
- :mod:`~pacer_briefing_worker.alerts`, :mod:`~pacer_briefing_worker.health`,
  :mod:`~pacer_briefing_worker.metrics`, :mod:`~pacer_briefing_worker.settings`.

A coaching session's states and moves (every write of its status, and its
``session.*`` events) are :mod:`pacer_common.session_lifecycle`; SQL on another
service's tables lives in :mod:`pacer_common.tables`.
"""
