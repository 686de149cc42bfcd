-- Late facts are placed at their date by replaying an enrolment's facts in date order;
-- corrections void or amend a posted fact and are kept as history.

ALTER TABLE enrolments ADD COLUMN last_fact_at timestamptz;
ALTER TABLE enrolments ADD COLUMN dropout_cause text;
UPDATE enrolments e SET last_fact_at = (SELECT max(occurred_at) FROM facts f
                                        WHERE f.learner_id = e.learner_id AND f.programme_id = e.programme_id);

-- Arrival order breaks ties between facts dated the same instant.
ALTER TABLE facts ADD COLUMN seq bigserial;
ALTER TABLE facts ADD COLUMN voided_at timestamptz;

CREATE TABLE fact_corrections (
    correction_id  uuid PRIMARY KEY,
    event_id       uuid        NOT NULL REFERENCES facts,
    action         text        NOT NULL,
    body_hash      text        NOT NULL,
    before         jsonb       NOT NULL,
    after          jsonb,
    result         jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fact_corrections_event ON fact_corrections (event_id);
