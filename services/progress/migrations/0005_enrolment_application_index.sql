-- A centre names an enrolment by its id or its admitted application's, without the network-wide
-- learner id (security review, finding 3): progress finds the learner from either.
CREATE INDEX enrolments_application ON enrolments (application_id);
