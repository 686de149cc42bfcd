-- Contact details belong to the application that recorded them (security review, finding 3).
-- Candidates are still matched across the network by e-mail, so that the figures count people,
-- but a centre's application never shows or changes what another centre recorded, a follow-up
-- calls with the details of its own enrolment's application, and the retention of each copy
-- counts only the activity of the centre that recorded it. A candidate keeps only what matching
-- needs (the e-mail) and the birth year (the age band at entry).
ALTER TABLE applications
    ADD COLUMN first_name text,
    ADD COLUMN last_name text,
    ADD COLUMN email text,
    ADD COLUMN phone text,
    ADD COLUMN contact_purged_at timestamptz;

UPDATE applications a SET first_name = c.first_name, last_name = c.last_name, email = c.email, phone = c.phone
FROM candidates c WHERE c.learner_id = a.learner_id AND c.erased_at IS NULL;
UPDATE applications a SET contact_purged_at = c.erased_at
FROM candidates c WHERE c.learner_id = a.learner_id AND c.erased_at IS NOT NULL;
UPDATE candidates SET first_name = '', last_name = '', phone = NULL;

-- Which application each enrolment follows (a transfer's enrolment follows the one it left), and
-- the exits that open a follow-up: contact details are read only for a follow-up still open
-- (an exit not followed by a closure of that follow-up).
CREATE TABLE enrolment_applications (
    enrolment_id    uuid PRIMARY KEY,
    application_id  uuid NOT NULL
);
CREATE TABLE enrolment_exits (
    enrolment_id    uuid PRIMARY KEY,
    learner_id      uuid        NOT NULL,
    programme_id    uuid        NOT NULL,
    exited_at       timestamptz NOT NULL
);
CREATE INDEX enrolment_exits_learner ON enrolment_exits (learner_id);

-- The erasures made before the tombstone list existed (shared migration 0004).
INSERT INTO erasures (learner_id, erased_at)
SELECT learner_id, erased_at FROM candidates WHERE erased_at IS NOT NULL AND email LIKE 'erased-%';
