-- One enrolment per admission (domain.md §1): an enrolment has its own id (the admitted
-- application's, or, for one continued after a transfer, its own), and a learner may have several
-- in one programme over the years. Rows written before had one enrolment per learner and
-- programme: they get the id every service computes for it, md5(learner_id:programme_id).
ALTER TABLE enrolments ADD COLUMN enrolment_id uuid;
UPDATE enrolments SET enrolment_id = md5(learner_id::text || ':' || programme_id::text)::uuid;
ALTER TABLE enrolments ALTER COLUMN enrolment_id SET NOT NULL;
ALTER TABLE enrolments DROP CONSTRAINT enrolments_pkey;
ALTER TABLE enrolments ADD PRIMARY KEY (enrolment_id);
-- The enrolments of a learner in a programme, which a fact without an enrolment id chooses from.
-- No other index (the state one goes too: the metrics count states with a scan every 15 s):
-- each index is one more write per admission and per fact consumed or posted.
CREATE INDEX enrolments_learner_programme ON enrolments (learner_id, programme_id);
DROP INDEX enrolments_state;
ALTER TABLE enrolments ADD COLUMN session_id uuid;
-- The enrolment left by a transfer that this one continues.
ALTER TABLE enrolments ADD COLUMN transferred_from uuid;

ALTER TABLE facts ADD COLUMN enrolment_id uuid;
UPDATE facts SET enrolment_id = md5(learner_id::text || ':' || programme_id::text)::uuid;
ALTER TABLE facts ALTER COLUMN enrolment_id SET NOT NULL;
DROP INDEX facts_enrolment;
CREATE INDEX facts_enrolment ON facts (enrolment_id, occurred_at, seq);
-- No index by learner: only an erasure looks facts up that way, rarely, and every index is one
-- more write per fact posted.
