-- Figures as known at a moment (issue 17): every change of the rows the key figures are computed
-- from is kept, with when it was recorded here, so that a report "as of T" rebuilds those rows as
-- they stood at T, ignoring the late facts and corrections recorded after it. Statement triggers
-- with transition tables: one insert per statement, whatever the batch. Free text (job titles)
-- is not kept: the figures never read it, and an erasure need not look here.
CREATE TABLE projection_history (
    id           bigserial   PRIMARY KEY,
    table_name   text        NOT NULL,
    key          text        NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    row          jsonb                    -- NULL: the row was deleted
);
CREATE INDEX projection_history_rows ON projection_history (table_name, key, id);

-- Since when the history is complete: no figure is given as of an earlier moment.
CREATE TABLE projection_history_start (
    started_at  timestamptz NOT NULL
);
INSERT INTO projection_history_start VALUES (now());

CREATE FUNCTION projection_history_key(r jsonb, columns text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(r ->> c, ':' ORDER BY n) FROM unnest(columns) WITH ORDINALITY AS u(c, n)
$$;

CREATE FUNCTION projection_history_keep() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO projection_history (table_name, key, row)
        SELECT TG_TABLE_NAME, projection_history_key(to_jsonb(o), TG_ARGV), NULL FROM old_rows o;
    ELSE
        INSERT INTO projection_history (table_name, key, row)
        SELECT TG_TABLE_NAME, projection_history_key(to_jsonb(n), TG_ARGV), to_jsonb(n) - 'job_title'
        FROM new_rows n;
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('applications', ARRAY['application_id']), ('sessions', ARRAY['session_id']),
        ('programmes', ARRAY['programme_id']), ('enrolments', ARRAY['enrolment_id']),
        ('followups', ARRAY['enrolment_id']), ('outcomes', ARRAY['id']),
        ('programme_modes', ARRAY['programme_id', 'effective_on'])) AS v(name, columns)
    LOOP
        EXECUTE format('CREATE TRIGGER %1$s_history_insert AFTER INSERT ON %1$I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION projection_history_keep(%2$s)',
                       t.name, array_to_string(t.columns, ', '));
        EXECUTE format('CREATE TRIGGER %1$s_history_update AFTER UPDATE ON %1$I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION projection_history_keep(%2$s)',
                       t.name, array_to_string(t.columns, ', '));
        EXECUTE format('CREATE TRIGGER %1$s_history_delete AFTER DELETE ON %1$I REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION projection_history_keep(%2$s)',
                       t.name, array_to_string(t.columns, ', '));
        -- What is there now, as known from the start of the history.
        EXECUTE format('INSERT INTO projection_history (table_name, key, recorded_at, row) '
                       'SELECT %1$L, projection_history_key(to_jsonb(r), %2$L), now(), to_jsonb(r) - ''job_title'' '
                       'FROM %1$I r', t.name, t.columns);
    END LOOP;
END
$$;
