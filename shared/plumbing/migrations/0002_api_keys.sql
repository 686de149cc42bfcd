-- API keys, stored hashed. The same key (id, hash, role, scope) is written to every service's
-- database by `parcours keys`, so each service checks its callers without asking another.
CREATE TABLE api_keys (
    key_id      uuid PRIMARY KEY,
    name        text        NOT NULL,
    role        text        NOT NULL,
    centre_id   uuid,
    key_hash    text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);
