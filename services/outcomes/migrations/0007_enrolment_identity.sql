-- One enrolment per admission (domain.md §1): enrolments and their follow-ups are keyed by the
-- enrolment's own id (the admitted application's, or its own for one continued after a
-- transfer). Rows written before had one enrolment per learner and programme: they get the id
-- every service computes for it, md5(learner_id:programme_id), and the application admitted there.
ALTER TABLE enrolments ADD COLUMN enrolment_id uuid;
UPDATE enrolments SET enrolment_id = md5(learner_id::text || ':' || programme_id::text)::uuid;
ALTER TABLE enrolments ALTER COLUMN enrolment_id SET NOT NULL;
ALTER TABLE enrolments DROP CONSTRAINT enrolments_pkey;
ALTER TABLE enrolments ADD PRIMARY KEY (enrolment_id);
-- No other index: every statement on the hot path finds an enrolment by its id, and each
-- index is one more write per start and exit consumed.
ALTER TABLE enrolments ADD COLUMN application_id uuid;
ALTER TABLE enrolments ADD COLUMN session_id uuid;
-- The enrolment left by a transfer that this one continues.
ALTER TABLE enrolments ADD COLUMN transferred_from uuid;
UPDATE enrolments e SET application_id = (
    SELECT a.application_id FROM applications a
    WHERE a.learner_id = e.learner_id AND a.programme_id = e.programme_id
    ORDER BY (a.decision = 'admitted') DESC NULLS LAST, a.decided_at DESC NULLS LAST LIMIT 1);

ALTER TABLE followups ADD COLUMN enrolment_id uuid;
UPDATE followups SET enrolment_id = md5(learner_id::text || ':' || programme_id::text)::uuid;
ALTER TABLE followups ALTER COLUMN enrolment_id SET NOT NULL;
ALTER TABLE followups DROP CONSTRAINT followups_pkey;
ALTER TABLE followups ADD PRIMARY KEY (enrolment_id);
CREATE INDEX followups_learner_programme ON followups (learner_id, programme_id);

-- The age band at entry (the session's start), from intake's admission; the one at submission
-- stays for applications decided before intake sent it.
ALTER TABLE applications ADD COLUMN age_band_at_entry text;
