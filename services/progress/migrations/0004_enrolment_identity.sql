-- One enrolment per admission (domain.md §1): an enrolment has its own id (the admitted
-- application's, or, for one continued after a transfer, its own), and a learner may have several
-- in one programme over the years. Rows written before had one enrolment per learner and
-- programme: they get the id every service computes for it, md5(learner_id:programme_id).
ALTER TABLE enrolments ADD COLUMN enrolment_id uuid;
UPDATE enrolments SET enrolment_id = md5(learner_id::text || ':' || programme_id::text)::uuid;
ALTER TABLE enrolments ALTER COLUMN enrolment_id SET NOT NULL;
ALTER TABLE enrolments DROP CONSTRAINT enrolments_pkey;
ALTER TABLE enrolments ADD PRIMARY KEY (enrolment_id);
CREATE INDEX enrolments_learner_programme ON enrolments (learner_id, programme_id);
CREATE UNIQUE INDEX enrolments_application ON enrolments (application_id) WHERE application_id IS NOT NULL;
ALTER TABLE enrolments ADD COLUMN session_id uuid;
-- The enrolment left by a transfer that this one continues.
ALTER TABLE enrolments ADD COLUMN transferred_from uuid;

ALTER TABLE facts ADD COLUMN enrolment_id uuid;
UPDATE facts SET enrolment_id = md5(learner_id::text || ':' || programme_id::text)::uuid;
ALTER TABLE facts ALTER COLUMN enrolment_id SET NOT NULL;
DROP INDEX facts_enrolment;
CREATE INDEX facts_enrolment ON facts (enrolment_id, occurred_at, seq);
CREATE INDEX facts_learner ON facts (learner_id);
