-- One row per Idempotency-Key a user sent on POST /v1/coach/chat, kept 24 hours.
-- The key is claimed (INSERT ... ON CONFLICT) in the same transaction that takes
-- the quota and stores the turn, before the quota check: a duplicate sent while
-- the first is still in that transaction waits on this row, then finds the
-- first's reply and attaches to it, so a retry never spends quota or calls the
-- LLM twice. A row older than 24 hours is replaced by a new claim of its key,
-- and a user's expired rows are deleted on each claim of theirs.
-- Owner: coach. Outside readers and writers: none (users and messages only
-- cascade their deletes here).
CREATE TABLE idempotency_keys (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key        text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- sha256 of the parsed request body: the same key with another body is refused.
    body_hash  bytea NOT NULL,
    -- NULL only inside the claiming transaction, until its reply row exists.
    message_id uuid REFERENCES messages (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
