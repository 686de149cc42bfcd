-- Intake owns the catalogue, the candidates' personal data and the applications.

CREATE TABLE programmes (
    programme_id     uuid PRIMARY KEY,
    centre_id        uuid        NOT NULL,
    centre_name      text        NOT NULL,
    title            text        NOT NULL,
    region           text        NOT NULL,
    job_family       text        NOT NULL,
    duration_months  integer     NOT NULL,
    capacity         integer     NOT NULL,
    start_date       date        NOT NULL,
    mode             text        NOT NULL,
    funding_line     text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Personal data: never leaves this database except through the contact API.
CREATE TABLE candidates (
    learner_id       uuid PRIMARY KEY,
    email            text        NOT NULL UNIQUE,
    first_name       text        NOT NULL,
    last_name        text        NOT NULL,
    phone            text,
    birth_year       integer     NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE applications (
    application_id   uuid PRIMARY KEY,
    learner_id       uuid        NOT NULL REFERENCES candidates,
    programme_id     uuid        NOT NULL REFERENCES programmes,
    status           text        NOT NULL,
    reason           text,
    gender           text        NOT NULL,
    education_level  text        NOT NULL,
    age_band         text        NOT NULL,
    qpv              boolean     NOT NULL,
    zrr              boolean     NOT NULL,
    job_seeker       boolean     NOT NULL,
    region           text        NOT NULL,
    submitted_at     timestamptz NOT NULL,
    decided_at       timestamptz,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (learner_id, programme_id)
);
CREATE INDEX applications_programme_status ON applications (programme_id, status);

CREATE TABLE application_transitions (
    id               bigserial PRIMARY KEY,
    application_id   uuid        NOT NULL REFERENCES applications,
    status           text        NOT NULL,
    reason           text,
    occurred_at      timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    actor            text        NOT NULL
);
CREATE INDEX application_transitions_application ON application_transitions (application_id);
