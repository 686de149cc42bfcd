-- The xAPI statements a centre's LMS posted (issue 16): every valid statement is kept, whether or
-- not it becomes a training fact, with what became of it: applied (its fact's event id), ignored
-- (not a training fact), or needing attention (why: learner not admitted, out of order...).
CREATE TABLE xapi_statements (
    statement_id  uuid        PRIMARY KEY,
    centre_id     uuid,                       -- the posting key's centre (none for an administrator)
    statement     jsonb       NOT NULL,       -- as kept and given back: e-mail addresses as their SHA-1
    stored_at     timestamptz NOT NULL DEFAULT now(),
    verb          text        NOT NULL,
    voided_by     uuid,                       -- the voiding statement, once voided
    status        text        NOT NULL CHECK (status IN ('applied', 'ignored', 'attention')),
    code          text,                       -- why it is ignored or needs attention
    reason        text,
    event_id      uuid                        -- the fact it became
);
CREATE INDEX xapi_statements_centre_stored ON xapi_statements (centre_id, stored_at, statement_id);
CREATE INDEX xapi_statements_attention ON xapi_statements (centre_id, stored_at) WHERE status = 'attention';
-- Those waiting for an admission, by the application their actor names: applied when it comes.
CREATE INDEX xapi_statements_waiting_account ON xapi_statements ((statement #>> '{actor,account,name}'))
    WHERE status = 'attention';
