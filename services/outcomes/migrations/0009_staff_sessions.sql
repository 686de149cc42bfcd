-- Staff sessions (security review, finding 2): the cookie holds a random session id, never the key.
-- The id is stored hashed; the staff member's key is stored sealed with a keystream derived from
-- the id, so this table alone opens neither a session nor a key.
CREATE TABLE staff_sessions (
    session_hash  text        PRIMARY KEY,
    key_id        uuid        NOT NULL,
    sealed_key    bytea       NOT NULL,
    csrf          text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    seen_at       timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz
);
CREATE INDEX staff_sessions_key ON staff_sessions (key_id) WHERE ended_at IS NULL;
