-- When the admitted candidate's training started, as progress reports it on the training topic:
-- after a start, a decision can no longer withdraw the admission or record a no-show.
ALTER TABLE applications ADD COLUMN started_at timestamptz;
