-- Progress owns the enrolments and every training fact the centres posted.

CREATE TABLE programmes (
    programme_id     uuid PRIMARY KEY,
    centre_id        uuid    NOT NULL,
    duration_months  integer NOT NULL,
    start_date       date    NOT NULL
);

CREATE TABLE enrolments (
    learner_id        uuid        NOT NULL,
    programme_id      uuid        NOT NULL,
    application_id    uuid,
    state             text        NOT NULL,
    admitted_at       timestamptz,
    started_at        timestamptz,
    exited_at         timestamptz,
    last_change_at    timestamptz,
    exit_reason       text,
    attendance_hours  double precision NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (learner_id, programme_id)
);
CREATE INDEX enrolments_state ON enrolments (state);

-- Every fact posted, with the hash of its request body so that a repeated event_id can be
-- told apart from a conflicting one.
CREATE TABLE facts (
    event_id      uuid PRIMARY KEY,
    learner_id    uuid        NOT NULL,
    programme_id  uuid        NOT NULL,
    fact_type     text        NOT NULL,
    occurred_at   timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    data          jsonb       NOT NULL,
    body_hash     text        NOT NULL
);
CREATE INDEX facts_enrolment ON facts (learner_id, programme_id, occurred_at);
