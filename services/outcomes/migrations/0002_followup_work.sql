-- Follow-up work: contact attempts, closing a follow-up (unreachable, refused, exempt),
-- assignment to a staff member, corrected outcomes, and programme labels for breakdowns.

ALTER TABLE followups ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE followups ADD COLUMN assigned_to text;
ALTER TABLE followups ADD COLUMN closed_reason text;
ALTER TABLE followups ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE contact_attempts (
    id            bigserial PRIMARY KEY,
    learner_id    uuid NOT NULL,
    programme_id  uuid NOT NULL,
    channel       text NOT NULL,
    attempted_on  date NOT NULL,
    result        text NOT NULL,
    note          text,
    staff         text,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_attempts_followup ON contact_attempts (learner_id, programme_id, id);

ALTER TABLE outcomes ADD COLUMN job_title text;
ALTER TABLE outcomes ADD COLUMN late boolean NOT NULL DEFAULT false;
ALTER TABLE outcomes ADD COLUMN corrects_event_id uuid;
ALTER TABLE outcomes ADD COLUMN recorded_by text;

ALTER TABLE programmes ADD COLUMN centre_name text;
ALTER TABLE programmes ADD COLUMN title text;
