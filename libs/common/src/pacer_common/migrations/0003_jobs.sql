-- The jobs ledger: one row per background job, whatever runs it (arq today).
-- A row is the job's memory: its input, every attempt, how each ended. Rows are
-- never deleted by the worker or the reaper, so a job that timed out keeps its
-- input and can be retried (by the reaper, by an admin, or by the CLI).
--
-- queued → processing → succeeded
--                     → timed_out (deadline passed or heartbeat lost; queued
--                                  again after a backoff while attempts remain)
--                     → failed    (an error, or timed out on its last attempt)
--
-- Owner: the shared ledger code, pacer_common/jobs/ledger.py; every statement
-- on this table is there. Its users: core-api (triggers on saves, home, the
-- admin routes) and the briefing worker (runs, reaper, cron, the pacer-jobs CLI).
CREATE TABLE jobs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind             text NOT NULL,
    -- What the job is about (the athlete for a briefing): the unit of deduplication.
    subject          text NOT NULL,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'processing', 'succeeded', 'failed', 'timed_out')),
    -- Attempts ever started: only ever grows, so it fences a late writer from
    -- an earlier attempt and names each attempt's arq entry.
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- A manual retry grants a fresh set of JOB_MAX_ATTEMPTS counted from here.
    attempts_before_retry integer NOT NULL DEFAULT 0 CHECK (attempts_before_retry >= 0),
    input            jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Set when a trigger arrives while the job runs: its data may be newer than
    -- what the job read, so one follow-up job is queued when this one ends.
    rerun_requested  boolean NOT NULL DEFAULT false,
    deadline_at      timestamptz,
    heartbeat_at     timestamptz,
    -- A retry does not run before this (backoff).
    run_after        timestamptz NOT NULL DEFAULT now(),
    worker           text,
    error            text,
    outcome          jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- At most one live job per kind and subject: triggers collapse into it.
CREATE UNIQUE INDEX jobs_one_live_per_subject_idx ON jobs (kind, subject)
    WHERE status IN ('queued', 'processing', 'timed_out');
-- The reaper's and the health endpoint's scans touch only live rows.
CREATE INDEX jobs_live_status_idx ON jobs (status, deadline_at)
    WHERE status IN ('queued', 'processing', 'timed_out');
CREATE INDEX jobs_subject_created_idx ON jobs (kind, subject, created_at DESC);
CREATE INDEX jobs_status_finished_idx ON jobs (status, finished_at DESC);
