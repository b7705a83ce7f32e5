-- One row per session: a login and every refresh token rotated from it. Each
-- refresh, reuse check and logout locks this row first (SELECT ... FOR UPDATE),
-- so that the decisions about one session are taken one at a time, each seeing
-- the others' writes: a refresh in flight cannot survive a logout or a reuse.
-- Owner: core-api. Outside readers and writers: none.
CREATE TABLE refresh_families (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Set by logout or by a reused token: no token of the family works again.
    revoked_at timestamptz
);
CREATE INDEX refresh_families_user_idx ON refresh_families (user_id);

-- Sessions that exist already: dead unless one of their tokens is still live.
INSERT INTO refresh_families (id, user_id, created_at, revoked_at)
SELECT family_id,
       (array_agg(user_id))[1],
       min(created_at),
       CASE WHEN bool_or(revoked_at IS NULL AND expires_at > now()) THEN NULL ELSE now() END
FROM refresh_tokens
GROUP BY family_id;

ALTER TABLE refresh_tokens
    ADD CONSTRAINT refresh_tokens_family_fkey
    FOREIGN KEY (family_id) REFERENCES refresh_families (id) ON DELETE CASCADE;
