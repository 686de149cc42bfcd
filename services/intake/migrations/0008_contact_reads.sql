-- Who read whose contact details, and when (security review, finding 6): every answered read of
-- GET /learners/{id}/contact, by the key that asked; an administrator reads the log.
CREATE TABLE contact_reads (
    id          bigserial   PRIMARY KEY,
    learner_id  uuid        NOT NULL,
    key_id      uuid,
    read_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_reads_learner ON contact_reads (learner_id, read_at);
CREATE INDEX contact_reads_time ON contact_reads (read_at);
