-- Users, refresh tokens and the athlete's own data. Every table here is owned
-- by core-api (its routes create and change the rows). Outside readers and
-- writers are named on each table; their SQL is in pacer_common/tables/.

-- Outside readers: the coach and the briefing worker (does an account exist:
-- tables/users.py; the athlete's name: tables/athlete_context.py).
CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL,
    password_hash text NOT NULL,
    name          text NOT NULL,
    tier          text NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'paid')),
    role          text NOT NULL DEFAULT 'athlete' CHECK (role IN ('athlete', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- Emails are compared case-insensitively; the API stores them lower-cased.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Refresh tokens are stored as SHA-256 hashes, never in clear. Each login starts
-- a family; each refresh revokes the used token and issues the next one in the
-- same family. A revoked token presented again revokes the whole family.
-- Outside readers and writers: none.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- One check-in per athlete and day; posting the same day again replaces it.
-- Outside readers of checkins, activities, plans and goals: the coach (chat
-- prompt) and the briefing worker (briefing prompt, the cron's active athletes),
-- both through tables/athlete_context.py. No outside writers.
CREATE TABLE checkins (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day         date NOT NULL,
    sleep_hours numeric(4, 2) NOT NULL CHECK (sleep_hours BETWEEN 0 AND 24),
    soreness    smallint NOT NULL CHECK (soreness BETWEEN 1 AND 5),
    mood        smallint NOT NULL CHECK (mood BETWEEN 1 AND 5),
    note        text CHECK (char_length(note) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, day)
);

-- Outside readers: as for checkins.
CREATE TABLE activities (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sport       text NOT NULL CHECK (sport IN ('run', 'ride', 'swim', 'strength', 'other')),
    started_at  timestamptz NOT NULL,
    duration_s  integer NOT NULL CHECK (duration_s > 0),
    distance_m  numeric(10, 1) CHECK (distance_m >= 0),
    avg_hr      smallint CHECK (avg_hr BETWEEN 30 AND 250),
    note        text CHECK (char_length(note) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activities_user_started_idx ON activities (user_id, started_at DESC);

-- The current training plan and race goal: one of each per athlete, replaced by PUT.
-- Outside readers of both: as for checkins.
CREATE TABLE plans (
    user_id           uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    name              text NOT NULL,
    start_date        date NOT NULL,
    end_date          date NOT NULL CHECK (end_date >= start_date),
    sessions_per_week smallint NOT NULL CHECK (sessions_per_week BETWEEN 1 AND 14),
    weekly_distance_m numeric(10, 1) CHECK (weekly_distance_m >= 0),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Outside readers: as for checkins.
CREATE TABLE goals (
    user_id       uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    race_name     text NOT NULL,
    race_date     date NOT NULL,
    distance_m    numeric(10, 1) NOT NULL CHECK (distance_m > 0),
    target_time_s integer CHECK (target_time_s > 0),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
