-- The programmes' delivery-mode history, as intake publishes it (programme.mode_changed).
CREATE TABLE programme_modes (
    programme_id  uuid NOT NULL,
    effective_on  date NOT NULL,
    mode          text NOT NULL CHECK (mode IN ('in_person', 'remote', 'hybrid')),
    PRIMARY KEY (programme_id, effective_on)
);
