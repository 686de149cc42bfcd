-- The staff's sessions moved to the pages' sessions every service keeps (shared migration 0005):
-- open staff sessions end here, and staff sign in again once.
DROP TABLE staff_sessions;
