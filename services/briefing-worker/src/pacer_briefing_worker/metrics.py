"""The worker's Prometheus metrics (served on BRIEFING_WORKER_PORT with /health).

The alert rules in deploy/alerts.yml read ``jobs_stuck`` and ``jobs_long_running``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS_STARTED = Counter("jobs_started_total", "Job attempts claimed by this worker.", ["kind"])
# outcome: succeeded, retry (failed, queued again), timed_out (queued again),
# failed (no attempts left), lost (settled by someone else first, e.g. reaped).
JOBS_FINISHED = Counter("jobs_finished_total", "Job attempts ended, by how.", ["kind", "outcome"])
JOB_DURATION = Histogram(
    "job_duration_seconds",
    "Claim to outcome of one attempt.",
    ["kind", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
)
JOBS_REAPED = Counter(
    "jobs_reaped_total", "Running jobs the reaper timed out, by their new status.", ["status"]
)
JOBS_REQUEUED = Counter(
    "jobs_requeued_total", "Waiting jobs whose lost queue entry the reaper enqueued again."
)
QUEUE_DEPTH = Gauge("jobs_queue_depth", "Entries in arq's queue (due or deferred).")
JOBS_STUCK = Gauge("jobs_stuck", "Running jobs past their deadline or heartbeat, not reaped yet.")
JOBS_LONG_RUNNING = Gauge("jobs_long_running", "Running jobs older than JOB_WARNING_SECONDS.")
REAPER_LAST_RUN = Gauge("jobs_reaper_last_run_timestamp_seconds", "When the reaper last ran.")
BRIEFINGS = Counter(
    "briefing_refreshes_total",
    "Briefing refreshes by result: generated (LLM called) or unchanged (inputs same, no LLM call).",
    ["result"],
)
ALERTS = Counter("job_alerts_total", "Alerts sent to ALERT_WEBHOOK_URL, by result.", ["result"])
EXTRACTION_REPLY_WAITS = Counter(
    "extraction_reply_waits_total",
    "Extraction attempts that found a reply of the session still streaming (complete was"
    " called mid-reply) and waited for it to be stored before reading the transcript.",
)
EXTRACTIONS = Counter(
    "extractions_total",
    "Extraction attempts that got an answer, by result: completed, invalid (output not the"
    " topic's schema; retried), already_completed (an earlier attempt's result stands).",
    ["result"],
)
