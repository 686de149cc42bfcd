-- The programme attributes a funder breaks the figures down by (issue 17), as programme.registered
-- now carries them: département, certification targeted (RNCP), year of the label, and the mode
-- it was registered with (its later changes are in programme_modes). Unknown for programmes
-- registered before, until a resync of intake's outbox brings them.
ALTER TABLE programmes
    ADD COLUMN departement text,
    ADD COLUMN rncp text,
    ADD COLUMN label_year integer,
    ADD COLUMN mode text CHECK (mode IN ('in_person', 'remote', 'hybrid'));
