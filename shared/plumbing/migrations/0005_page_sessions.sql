-- The pages' sessions, in every service (issue 18: a centre's space is served by intake and
-- progress, the staff's and managers' pages by outcomes). As outcomes' staff_sessions were: the
-- cookie holds a random id, stored hashed; the key is stored sealed with a keystream derived from
-- the id, so this table alone opens neither a session nor a key.
CREATE TABLE page_sessions (
    session_hash  text        PRIMARY KEY,
    key_id        uuid        NOT NULL,
    sealed_key    bytea       NOT NULL,
    csrf          text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    seen_at       timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz
);
CREATE INDEX page_sessions_key ON page_sessions (key_id) WHERE ended_at IS NULL;
