-- A change the coach proposed in a reply (a proposal tool: propose_activity,
-- propose_plan, propose_goal), which the athlete applies or dismisses. A
-- proposal changes nothing by itself: `change` is the validated body the
-- athlete's own route would take (pacer_common/athlete_schemas.py).
--
-- (message_id, step) is the key: the reply and the tool call's step in it (its
-- place among the reply's tool calls, counted from 0), so a proposal is never
-- created twice for one call, whatever is retried.
--
-- pending → applied | dismissed; a pending one past expires_at is expired (read
-- as such, never rewritten). `result` is the saved row, answered again by a
-- second apply. Owner: the coach (its tools create rows, its routes decide
-- them). Outside readers and writers: none.
CREATE TABLE coach_proposals (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_id  uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    step        integer NOT NULL CHECK (step >= 0),
    kind        text NOT NULL CHECK (kind IN ('activity', 'plan', 'goal')),
    change      jsonb NOT NULL,
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'applied', 'dismissed')),
    result      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    decided_at  timestamptz,
    UNIQUE (message_id, step)
);
CREATE INDEX coach_proposals_user_status_idx ON coach_proposals (user_id, status, created_at DESC);
