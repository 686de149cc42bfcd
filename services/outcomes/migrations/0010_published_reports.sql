-- Published reports, frozen (issue 17): what was published, byte for byte, with its hash, so that
-- a later recomputation (late facts, corrections) can be compared with it and the published
-- figures printed again exactly as they were.
CREATE TABLE published_reports (
    report_id     uuid        PRIMARY KEY,
    year          integer     NOT NULL,
    parameters    jsonb       NOT NULL,   -- by, cohort, suppress: what a recomputation repeats
    definitions   text        NOT NULL,
    content       bytea       NOT NULL,   -- the figures as canonical JSON (sorted keys, no spaces)
    sha256        text        NOT NULL,
    published_at  timestamptz NOT NULL DEFAULT now(),
    published_by  text        NOT NULL
);
CREATE INDEX published_reports_year ON published_reports (year, published_at);
