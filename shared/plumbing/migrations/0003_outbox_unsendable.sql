-- A row the broker can never take (larger than the producer's limit) is set aside with its
-- reason instead of being retried forever: the relay takes rows in id order, so one such row
-- would hold back every later event of the service. It stays here for an operator to see.
ALTER TABLE outbox ADD COLUMN unsendable text;
CREATE INDEX outbox_unsendable ON outbox (id) WHERE unsendable IS NOT NULL;
