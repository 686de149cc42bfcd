-- The catalogue, complete: registered centres, programmes' codes, and sessions (cohorts), to
-- which applications now belong and whose capacity admissions respect.

CREATE TABLE centres (
    centre_id        uuid PRIMARY KEY,
    name             text        NOT NULL,
    siret            text        NOT NULL UNIQUE,
    street           text        NOT NULL,
    postcode         text        NOT NULL,
    city             text        NOT NULL,
    region           text        NOT NULL,
    departement      text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- A programme keeps its first session's start_date and capacity: programme.registered (v1)
-- carries them and a producer never removes a field inside a version.
ALTER TABLE programmes
    ADD COLUMN departement  text,
    ADD COLUMN rncp         text,
    ADD COLUMN label_year   integer;

CREATE TABLE sessions (
    session_id       uuid PRIMARY KEY,
    programme_id     uuid        NOT NULL REFERENCES programmes,
    start_date       date        NOT NULL,
    end_date         date        NOT NULL,
    capacity         integer     NOT NULL CHECK (capacity > 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (end_date > start_date)
);
CREATE INDEX sessions_programme ON sessions (programme_id, start_date);

-- The same person applying twice to the same session gets the first application; applying to
-- another session of the same programme is a new application.
--
-- Existing programmes' first sessions: a programme's first session is
-- uuid5(programme_id, 'first-session') (services/intake/domain.py, first_session_id), so that
-- the other services can name it from programme.registered alone. PostgreSQL has no uuid5 (no
-- SHA-1 without the pgcrypto extension), so this file cannot create them: intake creates the
-- missing first sessions, publishes their session.scheduled and fills applications.session_id
-- when it starts, before it serves a request (service.create_missing_first_sessions, one
-- transaction, idempotent). That is why session_id may be NULL here; the code never writes a NULL.
ALTER TABLE applications
    ADD COLUMN session_id uuid REFERENCES sessions,
    DROP CONSTRAINT applications_learner_id_programme_id_key,
    ADD CONSTRAINT applications_learner_session UNIQUE (learner_id, session_id);
CREATE INDEX applications_session_status ON applications (session_id, status, decided_at);
CREATE INDEX applications_submitted ON applications (submitted_at);
