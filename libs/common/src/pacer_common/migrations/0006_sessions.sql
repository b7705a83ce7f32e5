-- Guided coaching sessions (onboarding, race debrief) and the topics that
-- define them. A session is a conversation with a topic's system prompt; when
-- it ends, an extraction job (jobs.kind = 'extraction', subject = the session
-- id) turns it into a result validated against the topic's schema.

-- Admin-configured. conversation_config: {"extraction_model_code": a
-- pacer_common.llm.registry code, "max_turns": user messages before the
-- session ends anyway}; result_schema names a pydantic model in
-- pacer_common/topics.py, so results are validated, never free-form.
-- Owner: core-api (the admin routes write it). Outside readers: the coach
-- (prompt, max_turns) and the briefing worker (extraction model, schema), each
-- reading the row when it needs it, so an admin change applies at once.
CREATE TABLE topics (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug                text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9_]{0,63}$'),
    title               text NOT NULL,
    system_prompt       text NOT NULL,
    conversation_config jsonb NOT NULL,
    result_schema       text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- active → extracting → completed
--                     → extraction_failed (→ extracting again on a retry)
-- Owner: the coach. Outside writer: the briefing worker's extraction job sets
-- status, result, raw_output and error (pacer_common/tables/).
CREATE TABLE coach_sessions (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    topic_id         uuid NOT NULL REFERENCES topics (id),
    -- The session's messages live in an ordinary conversation of its own.
    conversation_id  uuid NOT NULL UNIQUE REFERENCES conversations (id) ON DELETE CASCADE,
    status           text NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'extracting', 'completed', 'extraction_failed')),
    user_turns       integer NOT NULL DEFAULT 0 CHECK (user_turns >= 0),
    result           jsonb,
    -- The model's last unparseable or invalid output, kept for the admin.
    raw_output       text,
    error            text,
    extraction_job_id uuid REFERENCES jobs (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz
);
CREATE INDEX coach_sessions_user_created_idx ON coach_sessions (user_id, created_at DESC, id DESC);

INSERT INTO topics (slug, title, system_prompt, conversation_config, result_schema) VALUES
(
    'onboarding',
    'Getting to know you',
    'You are Pacer, a running coach meeting a new athlete. Ask, one question at a time, '
    'about their goal race (name, date, distance), a target time if they have one, how many '
    'days a week they can run, and any injuries. Keep each message short and warm. When you '
    'know enough, sum up what you heard in one message and end that message with the exact '
    'text [[END_SESSION]].',
    '{"extraction_model_code": "CLAUDE_HAIKU", "max_turns": 8}',
    'onboarding'
),
(
    'race_debrief',
    'Race debrief',
    'You are Pacer, a running coach talking with an athlete after a race. Ask, one question '
    'at a time, which race it was, their finish time, how hard it felt from 1 to 10, what went '
    'well and what to improve. Keep each message short. When you have the picture, sum it up '
    'in one message and end that message with the exact text [[END_SESSION]].',
    '{"extraction_model_code": "CLAUDE_HAIKU", "max_turns": 8}',
    'race_debrief'
);
