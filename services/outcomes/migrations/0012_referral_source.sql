-- Who referred the candidate (application.submitted carries it within v1): applications and
-- admissions are counted by referral source. NULL: not stated.
ALTER TABLE applications ADD COLUMN referral_source text
    CHECK (referral_source IN ('self', 'employment_service', 'mission_locale', 'other_partner'));
