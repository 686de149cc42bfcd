-- A centre's LMS accounts mapped to its learners (issue 16): an LMS need not know Parcours ids. An
-- actor is matched by its account (homePage and name) or by its mbox_sha1sum (the SHA-1 of its
-- mailto IRI: the address itself never leaves intake). The key is the identifier, as text.
CREATE TABLE lms_accounts (
    scope           text NOT NULL,     -- the centre's id; 'network' for an administrator's key
    actor_key       text NOT NULL,     -- 'account:<homePage> <name>' or 'mbox_sha1sum:<sum>'
    application_id  uuid NOT NULL,
    PRIMARY KEY (scope, actor_key)
);
