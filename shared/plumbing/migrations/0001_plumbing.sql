-- Delivery tables every service has: the outbox it publishes from, the inbox of
-- events it has applied, and the dead letters it has set aside.

CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    topic         text        NOT NULL,
    key           bytea,
    payload       bytea       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '[]',
    event_id      uuid,
    event_type    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
-- The relay picks unpublished rows by status, never by "id above the last seen":
-- sequence values are handed out before commit, so a late commit would be skipped.
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_created_at ON outbox (created_at);

CREATE TABLE processed_events (
    event_id      uuid PRIMARY KEY,
    event_type    text        NOT NULL,
    topic         text        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dead_letters (
    id                bigserial PRIMARY KEY,
    topic             text        NOT NULL,
    partition         integer     NOT NULL,
    "offset"          bigint      NOT NULL,
    key               bytea,
    payload           bytea       NOT NULL,
    headers           jsonb       NOT NULL DEFAULT '[]',
    reason            text        NOT NULL,
    error             text        NOT NULL,
    dead_lettered_at  timestamptz NOT NULL DEFAULT now(),
    replayed_at       timestamptz
);
-- A redelivered poison message is set aside once. Offsets restart from 0 when a
-- memory-only broker is lost, so the payload's hash is part of the identity.
CREATE UNIQUE INDEX dead_letters_identity ON dead_letters (topic, partition, "offset", md5(payload));
