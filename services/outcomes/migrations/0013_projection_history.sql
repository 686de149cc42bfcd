-- Figures as known at a moment (issue 17): every change of the rows the key figures are computed
-- from is kept, with when it was recorded here, so that a report "as of T" rebuilds those rows as
-- they stood at T, ignoring the late facts and corrections recorded after it. Statement triggers
-- with transition tables: one insert per statement, whatever the batch. Free text (job titles)
-- is not kept: the figures never read it, and an erasure need not look here.
CREATE TABLE projection_history (
    id           bigserial   PRIMARY KEY,
    table_name   text        NOT NULL,
    key          text        NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),   -- the recording transaction's moment
    row          jsonb                    -- NULL: the row was deleted
);
-- No index beside the key: it is written on every change of a projected row, and read only by
-- the rare report as of a moment (a scan of one table's history).

-- Since when the history is complete: no figure is given as of an earlier moment.
CREATE TABLE projection_history_start (
    started_at  timestamptz NOT NULL
);
INSERT INTO projection_history_start VALUES (now());

-- The trigger's arguments name the key columns (one or two). A row's key is their values joined
-- by ':'. Its history is the row as JSON, free text left out.
CREATE FUNCTION projection_history_keep() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO projection_history (table_name, key, row)
        SELECT TG_TABLE_NAME, CASE WHEN TG_NARGS = 1 THEN j ->> TG_ARGV[0]
                                   ELSE (j ->> TG_ARGV[0]) || ':' || (j ->> TG_ARGV[1]) END, NULL
        FROM (SELECT to_jsonb(o) AS j FROM old_rows o) x;
    ELSIF TG_NARGS = 1 THEN
        INSERT INTO projection_history (table_name, key, row)
        SELECT TG_TABLE_NAME, j ->> TG_ARGV[0], j - 'job_title' FROM (SELECT to_jsonb(n) AS j FROM new_rows n) x;
    ELSE
        INSERT INTO projection_history (table_name, key, row)
        SELECT TG_TABLE_NAME, (j ->> TG_ARGV[0]) || ':' || (j ->> TG_ARGV[1]), j
        FROM (SELECT to_jsonb(n) AS j FROM new_rows n) x;
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
                       'SELECT %1$L, %2$s, now(), to_jsonb(r) - ''job_title'' FROM %1$I r', t.name,
                       (SELECT string_agg(format('(to_jsonb(r) ->> %L)', c), ' || '':'' || ') FROM unnest(t.columns) c));
    END LOOP;
END
$$;
