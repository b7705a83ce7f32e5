-- The coach: conversations, their messages, monthly message quotas, and one
-- usage row per LLM call. Owned by the coach; outside readers and writers are
-- named on each table, their SQL in pacer_common/tables/.

-- Outside readers and writers: none.
CREATE TABLE conversations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_user_updated_idx ON conversations (user_id, updated_at DESC);

-- An assistant message is inserted as 'streaming' before the LLM is called and
-- ends 'complete', 'partial' (some text, then a failure or a disconnect) or
-- 'failed' (no text). A 'streaming' row older than the stream timeout means
-- the coach process died mid-stream.
-- Outside writer: the briefing worker's reaper settles such rows
-- (tables/messages.py). No outside readers.
CREATE TABLE messages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('user', 'assistant')),
    content         text NOT NULL DEFAULT '',
    status          text NOT NULL CHECK (status IN ('streaming', 'complete', 'partial', 'failed')),
    model           text,
    error_code      text,
    input_tokens    integer,
    output_tokens   integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX messages_conversation_created_idx ON messages (conversation_id, created_at);

-- Messages sent per user per calendar month (UTC). Incremented with a
-- conditional upsert, so concurrent requests cannot overshoot the limit.
-- Outside readers and writers: none.
CREATE TABLE chat_quota (
    user_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    month    date NOT NULL,
    used     integer NOT NULL CHECK (used >= 0),
    PRIMARY KEY (user_id, month)
);

-- One row per LLM attempt. Outside writer: the briefing worker, for its own
-- calls (pacer_common/llm/postgres_usage.py, shared by both writers).
CREATE TABLE llm_usage (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        uuid REFERENCES users (id) ON DELETE SET NULL,
    purpose        text NOT NULL,
    provider       text NOT NULL,
    model_code     text NOT NULL,
    model_id       text NOT NULL,
    input_tokens   integer NOT NULL,
    output_tokens  integer NOT NULL,
    cost_usd       numeric(12, 6) NOT NULL,
    ttft_ms        integer,
    duration_ms    integer NOT NULL,
    outcome        text NOT NULL,
    fallback       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX llm_usage_created_idx ON llm_usage (created_at);
CREATE INDEX llm_usage_user_idx ON llm_usage (user_id, created_at);
