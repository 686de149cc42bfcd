-- A follow-up has its own identity. A correction that removes an exit deletes its follow-up; one
-- that restores the exit later opens a new follow-up, which must not inherit the outcomes and
-- contact attempts of the deleted one: they are joined by follow-up id, never by learner and
-- programme.
ALTER TABLE followups ADD COLUMN followup_id uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX followups_followup_id ON followups (followup_id);

ALTER TABLE outcomes ADD COLUMN followup_id uuid;
ALTER TABLE contact_attempts ADD COLUMN followup_id uuid;
-- Rows written before this migration belong to the follow-up that stands now only when they were
-- recorded after it opened; older ones belonged to a follow-up deleted since.
UPDATE outcomes o SET followup_id = f.followup_id FROM followups f
WHERE f.learner_id = o.learner_id AND f.programme_id = o.programme_id AND o.recorded_at >= f.created_at;
UPDATE contact_attempts a SET followup_id = f.followup_id FROM followups f
WHERE f.learner_id = a.learner_id AND f.programme_id = a.programme_id AND a.recorded_at >= f.created_at;
CREATE INDEX outcomes_followup_id ON outcomes (followup_id, id);
CREATE INDEX contact_attempts_followup_id ON contact_attempts (followup_id, id);
