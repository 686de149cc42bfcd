-- Who referred the candidate to the programme (issue 17, domain.md §6): captured with the
-- application, published with application.submitted, counted by outcomes. NULL: not stated.
ALTER TABLE applications ADD COLUMN referral_source text
    CHECK (referral_source IN ('self', 'employment_service', 'mission_locale', 'other_partner'));
