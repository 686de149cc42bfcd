-- The codes a column may hold, as shared/contracts/vocabulary.py declares them
-- (tests/unit/test_vocabulary.py holds these lists to it).
ALTER TABLE applications ADD CONSTRAINT applications_status_vocabulary
    CHECK (status IN ('submitted', 'screened', 'admitted', 'waitlisted', 'rejected', 'withdrawn', 'no_show'));
ALTER TABLE applications ADD CONSTRAINT applications_gender_vocabulary
    CHECK (gender IN ('female', 'male', 'not_stated'));
ALTER TABLE applications ADD CONSTRAINT applications_education_level_vocabulary
    CHECK (education_level IN ('below_3', '3', '4', '5', '6', '7', '8'));
ALTER TABLE applications ADD CONSTRAINT applications_age_band_vocabulary
    CHECK (age_band IN ('under_26', '26_44', '45_plus'));
