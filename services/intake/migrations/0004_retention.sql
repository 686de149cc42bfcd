-- Closed follow-ups, as outcomes reports them, so that contact details can be purged once the
-- retention period after the last one has passed.
CREATE TABLE followup_closures (
    learner_id    uuid NOT NULL,
    programme_id  uuid NOT NULL,
    status        text NOT NULL,
    closed_on     date NOT NULL,
    PRIMARY KEY (learner_id, programme_id)
);
