-- The codes a column may hold, as shared/contracts/vocabulary.py declares them
-- (tests/unit/test_vocabulary.py holds these lists to it).
ALTER TABLE enrolments ADD CONSTRAINT enrolments_state_vocabulary
    CHECK (state IN ('admitted', 'started', 'interrupted', 'exited', 'withdrawn', 'no_show'));
ALTER TABLE enrolments ADD CONSTRAINT enrolments_exit_reason_vocabulary
    CHECK (exit_reason IN ('completed', 'certified', 'not_certified', 'dropped_out', 'excluded', 'transferred'));
