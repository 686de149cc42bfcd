-- A programme's delivery mode is dated history (domain.md §6): the network publishes the share of
-- programmes that changed mode during a year, and how many were back by its end. `programmes.mode`
-- stays the mode it was registered with; each change says from which day a mode applies.
CREATE TABLE programme_modes (
    programme_id  uuid        NOT NULL REFERENCES programmes,
    effective_on  date        NOT NULL,
    mode          text        NOT NULL CHECK (mode IN ('in_person', 'remote', 'hybrid')),
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (programme_id, effective_on)
);
