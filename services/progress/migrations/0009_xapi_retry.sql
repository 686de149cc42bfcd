-- Statements waiting for something that may arrive later (an earlier fact of the learner, the
-- programme's centre, the admission) are tried again in the background, each less often as it
-- keeps waiting (1 minute, 2, 4... at most a day), so that one that never fits costs little and
-- never holds back the others.
ALTER TABLE xapi_statements ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE xapi_statements ADD COLUMN retry_at timestamptz;
CREATE INDEX xapi_statements_retry ON xapi_statements (retry_at NULLS FIRST, stored_at) WHERE status = 'attention';
