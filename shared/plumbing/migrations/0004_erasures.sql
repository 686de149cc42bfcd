-- Erasures every service has applied (security review, finding 4): the pseudonymous id and when,
-- nothing else. Intake records one when it erases, the others when they apply `learner.erased`,
-- so that the list survives the restore of any one database; `parcours restore-check` applies
-- the union (and an exported copy) to restored databases.
CREATE TABLE erasures (
    learner_id  uuid PRIMARY KEY,
    erased_at   timestamptz NOT NULL DEFAULT now()
);
