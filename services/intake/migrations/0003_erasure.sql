-- GDPR erasure: a candidate's personal data is removed in place; the pseudonymous facts the
-- indicators need (applications and their attributes) stay, so every count stays the same.
ALTER TABLE candidates ADD COLUMN erased_at timestamptz;
