-- Every situation ticked for an outcome (a short CDD while studying, say); `situation` stays the
-- one that counts, the first of them by priority. Rows written before hold only that one.
ALTER TABLE outcomes ADD COLUMN situations text[];
UPDATE outcomes SET situations = ARRAY[situation];
ALTER TABLE outcomes ALTER COLUMN situations SET NOT NULL;
ALTER TABLE outcomes ADD CONSTRAINT outcomes_situations_vocabulary
    CHECK (situations <@ ARRAY['permanent_contract', 'fixed_term_6m_plus', 'self_employed', 'apprenticeship',
                               'fixed_term_under_6m', 'temporary_agency', 'further_study', 'job_seeker',
                               'inactive']::text[]);
ALTER TABLE outcomes ADD CONSTRAINT outcomes_counted_situation_ticked CHECK (situation = ANY (situations));
