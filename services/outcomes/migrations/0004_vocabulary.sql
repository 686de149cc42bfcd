-- The codes a column may hold, as shared/contracts/vocabulary.py declares them
-- (tests/unit/test_vocabulary.py holds these lists to it). A follow-up stores only the states
-- that are not computed from today's date: `due` and `overdue` never reach the table.
ALTER TABLE applications ADD CONSTRAINT applications_decision_vocabulary
    CHECK (decision IN ('admitted', 'waitlisted', 'rejected', 'withdrawn'));
ALTER TABLE enrolments ADD CONSTRAINT enrolments_exit_reason_vocabulary
    CHECK (exit_reason IN ('completed', 'certified', 'not_certified', 'dropped_out', 'excluded', 'transferred'));
ALTER TABLE followups ADD CONSTRAINT followups_exit_reason_vocabulary
    CHECK (exit_reason IN ('completed', 'certified', 'not_certified', 'dropped_out', 'excluded'));
ALTER TABLE followups ADD CONSTRAINT followups_status_vocabulary
    CHECK (status IN ('scheduled', 'attempted', 'recorded', 'unreachable', 'refused', 'exempt'));
ALTER TABLE outcomes ADD CONSTRAINT outcomes_situation_vocabulary
    CHECK (situation IN ('permanent_contract', 'fixed_term_6m_plus', 'self_employed', 'apprenticeship',
                         'fixed_term_under_6m', 'temporary_agency', 'further_study', 'job_seeker', 'inactive'));
