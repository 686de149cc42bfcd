"""Progress: enrolments and the training state machine of each learner."""
