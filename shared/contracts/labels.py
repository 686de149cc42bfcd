"""The words a person reads for each code of the vocabulary, declared once: the staff page and
the report show these, never the codes (a test holds every code of vocabulary.py to a label).

Plain data. The translations (French first) come with the pages' catalogue.
"""

from __future__ import annotations

SITUATION = {
    "permanent_contract": "permanent contract (CDI)",
    "fixed_term_6m_plus": "fixed-term contract of 6 months or more (CDD)",
    "self_employed": "self-employed or business creation",
    "apprenticeship": "work-study contract (alternance)",
    "fixed_term_under_6m": "fixed-term contract under 6 months (CDD)",
    "temporary_agency": "temporary agency work (intérim)",
    "further_study": "further study or training",
    "job_seeker": "job seeker",
    "inactive": "inactive",
}
EXIT_REASON = {
    "completed": "completed",
    "certified": "certified",
    "not_certified": "not certified",
    "dropped_out": "dropped out",
    "excluded": "excluded",
    "transferred": "transferred to another programme",
}
REFERRAL = {
    "self": "the candidate herself",
    "employment_service": "the employment service (France Travail)",
    "mission_locale": "a mission locale",
    "other_partner": "another partner (Onisep, an association…)",
    "not_stated": "not stated",
}
INFORMATION_SOURCE = {
    "learner_statement": "learner's statement",
    "employer": "employer",
    "administrative_record": "administrative record",
}
EXEMPT_REASON = {"deceased": "deceased", "long_term_illness": "long-term illness", "left_country": "left the country"}
MODE = {"in_person": "in person", "remote": "remote", "hybrid": "hybrid"}
# The ROME job families the network's programmes prepare for (a code not listed shows as itself).
JOB_FAMILY = {
    "M1801": "systems administration",
    "M1802": "IT expertise and support",
    "M1803": "IT management",
    "M1805": "software development",
    "M1806": "digital project management",
    "M1810": "IT production and operations",
    "E1101": "digital content and community management",
    "E1104": "web content design",
    "E1205": "web and multimedia design",
}
FUNDING_LINE = {
    "gen_label": "labelled network (GEN)",
    "public_contract_2021": "employment service contract 2021-22",
    "other": "other funding",
}


def choices(labels: dict[str, str]) -> list[tuple[str, str]]:
    """(code, label) in the vocabulary's order, for a form's choices."""
    return list(labels.items())
