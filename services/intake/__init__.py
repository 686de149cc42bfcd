"""Intake: the programme catalogue, applications, candidates' personal data and decisions."""
