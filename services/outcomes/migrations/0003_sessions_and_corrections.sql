-- Sessions (the places offered count in the year a session starts) and no-shows, which stay
-- admissions but never become learners.

CREATE TABLE sessions (
    session_id    uuid PRIMARY KEY,
    programme_id  uuid    NOT NULL,
    start_date    date    NOT NULL,
    end_date      date    NOT NULL,
    capacity      integer NOT NULL
);
CREATE INDEX sessions_programme ON sessions (programme_id);

ALTER TABLE applications ADD COLUMN session_id uuid;
ALTER TABLE applications ADD COLUMN no_show_at timestamptz;
