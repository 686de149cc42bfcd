-- Outcomes owns the follow-ups and outcomes, and a projection of the whole journey
-- (programmes, applications, enrolments) that the key figures are computed from.
-- Events of different topics arrive in any order: every projection row is an upsert.

CREATE TABLE programmes (
    programme_id     uuid PRIMARY KEY,
    centre_id        uuid    NOT NULL,
    region           text    NOT NULL,
    job_family       text    NOT NULL,
    capacity         integer NOT NULL,
    start_date       date    NOT NULL,
    funding_line     text    NOT NULL
);

CREATE TABLE applications (
    application_id   uuid PRIMARY KEY,
    learner_id       uuid NOT NULL,
    programme_id     uuid NOT NULL,
    submitted_at     timestamptz,
    gender           text,
    education_level  text,
    age_band         text,
    qpv              boolean,
    zrr              boolean,
    job_seeker       boolean,
    region           text,
    decision         text,
    reason           text,
    decided_at       timestamptz
);
CREATE INDEX applications_enrolment ON applications (learner_id, programme_id);

CREATE TABLE enrolments (
    learner_id       uuid NOT NULL,
    programme_id     uuid NOT NULL,
    started_at       timestamptz,
    exited_at        timestamptz,
    exit_reason      text,
    dropout_cause    text,
    PRIMARY KEY (learner_id, programme_id)
);

CREATE TABLE followups (
    learner_id        uuid NOT NULL,
    programme_id      uuid NOT NULL,
    exit_date         date NOT NULL,
    exit_reason       text NOT NULL,
    observation_date  date NOT NULL,
    window_start      date NOT NULL,
    window_end        date NOT NULL,
    status            text NOT NULL DEFAULT 'scheduled',
    exempt_reason     text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (learner_id, programme_id)
);
CREATE INDEX followups_exit_date ON followups (exit_date);
CREATE INDEX followups_status_window ON followups (status, window_end);

-- Every outcome recorded, kept as history; the latest one per follow-up counts.
CREATE TABLE outcomes (
    id            bigserial PRIMARY KEY,
    event_id      uuid NOT NULL UNIQUE,
    learner_id    uuid NOT NULL,
    programme_id  uuid NOT NULL,
    situation     text NOT NULL,
    digital_job   boolean NOT NULL,
    source        text NOT NULL,
    observed_on   date NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outcomes_followup ON outcomes (learner_id, programme_id, id);
