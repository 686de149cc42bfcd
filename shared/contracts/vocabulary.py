"""Every code of the journey, declared once (domain.md §1–3).

The event contracts type their fields with these literals; the services, their SQL checks,
metrics labels and pages take their lists from here, and tests/unit/test_vocabulary.py holds
every copy that cannot import (SQL constraints, templates, the simulator's ground truth) to them.
Codes are lower_snake_case English; French labels belong in the user-facing text.
"""

from __future__ import annotations

from typing import Literal, get_args

Gender = Literal["female", "male", "not_stated"]
EducationLevel = Literal["below_3", "3", "4", "5", "6", "7", "8"]
AgeBand = Literal["under_26", "26_44", "45_plus"]
Decision = Literal["admitted", "waitlisted", "rejected", "withdrawn"]
# v2 of application.decided adds `no_show` (admitted, never came: frees the place, not a learner).
DecisionV2 = Literal["admitted", "waitlisted", "rejected", "withdrawn", "no_show"]
ApplicationStatus = Literal["submitted", "screened", "admitted", "waitlisted", "rejected", "withdrawn", "no_show"]
EnrolmentState = Literal["admitted", "started", "interrupted", "exited", "withdrawn", "no_show"]
FactType = Literal["started", "attendance", "milestone", "interrupted", "resumed", "exited"]
ExitReason = Literal["completed", "certified", "not_certified", "dropped_out", "excluded", "transferred"]
DropoutCause = Literal["found_job", "personal", "health", "financial", "motivation", "other"]
# In priority order: a person with several situations ticked counts under the first (domain.md §3).
Situation = Literal[
    "permanent_contract",
    "fixed_term_6m_plus",
    "self_employed",
    "apprenticeship",
    "fixed_term_under_6m",
    "temporary_agency",
    "further_study",
    "job_seeker",
    "inactive",
]
InformationSource = Literal["learner_statement", "employer", "administrative_record"]
FollowupStatus = Literal["scheduled", "due", "attempted", "overdue", "recorded", "unreachable", "refused", "exempt"]
ClosedStatus = Literal["recorded", "unreachable", "refused", "exempt"]
ExemptReason = Literal["deceased", "long_term_illness", "left_country"]
ContactChannel = Literal["phone", "email", "sms", "letter", "visit"]
ContactResult = Literal["reached", "no_answer", "message_left", "wrong_contact", "refused"]
Mode = Literal["in_person", "remote", "hybrid"]
FundingLine = Literal["gen_label", "public_contract_2021", "other"]
# Who referred a candidate to the programme (domain.md §6); an application that does not say is
# counted as not_stated.
ReferralSource = Literal["self", "employment_service", "mission_locale", "other_partner"]

GENDERS: tuple[str, ...] = get_args(Gender)
EDUCATION_LEVELS: tuple[str, ...] = get_args(EducationLevel)
BAC_OR_LOWER = frozenset({"below_3", "3", "4"})
DECISIONS: tuple[str, ...] = get_args(Decision)
DECISIONS_V2: tuple[str, ...] = get_args(DecisionV2)
APPLICATION_STATUSES: tuple[str, ...] = get_args(ApplicationStatus)
ENROLMENT_STATES: tuple[str, ...] = get_args(EnrolmentState)
FACT_TYPES: tuple[str, ...] = get_args(FactType)
EXIT_REASONS: tuple[str, ...] = get_args(ExitReason)
# `transferred` is not an exit from the network: it opens no follow-up and no exit count.
FOLLOWED_UP_EXITS: tuple[str, ...] = tuple(r for r in EXIT_REASONS if r != "transferred")
DROPOUT_CAUSES: tuple[str, ...] = get_args(DropoutCause)
SITUATIONS: tuple[str, ...] = get_args(Situation)
EMPLOYMENT = frozenset(SITUATIONS[:6])
DURABLE = frozenset({"permanent_contract", "fixed_term_6m_plus", "self_employed"})
INFORMATION_SOURCES: tuple[str, ...] = get_args(InformationSource)
FOLLOWUP_STATUSES: tuple[str, ...] = get_args(FollowupStatus)
CLOSED_STATUSES: tuple[str, ...] = get_args(ClosedStatus)
EXEMPT_REASONS: tuple[str, ...] = get_args(ExemptReason)
CONTACT_CHANNELS: tuple[str, ...] = get_args(ContactChannel)
CONTACT_RESULTS: tuple[str, ...] = get_args(ContactResult)
FUNDING_LINES: tuple[str, ...] = get_args(FundingLine)
REFERRAL_SOURCES: tuple[str, ...] = get_args(ReferralSource)
REFERRALS_COUNTED: tuple[str, ...] = (*REFERRAL_SOURCES, "not_stated")

# INSEE codes of France's current regions (2016).
REGIONS: dict[str, str] = {
    "01": "Guadeloupe",
    "02": "Martinique",
    "03": "Guyane",
    "04": "La Réunion",
    "06": "Mayotte",
    "11": "Île-de-France",
    "24": "Centre-Val de Loire",
    "27": "Bourgogne-Franche-Comté",
    "28": "Normandie",
    "32": "Hauts-de-France",
    "44": "Grand Est",
    "52": "Pays de la Loire",
    "53": "Bretagne",
    "75": "Nouvelle-Aquitaine",
    "76": "Occitanie",
    "84": "Auvergne-Rhône-Alpes",
    "93": "Provence-Alpes-Côte d'Azur",
    "94": "Corse",
}


def counted_situation(situations) -> str:
    """The situation a person counts under: the first of those ticked, in SITUATIONS' order."""
    ticked = set(situations)
    for situation in SITUATIONS:
        if situation in ticked:
            return situation
    raise ValueError("no situation ticked")
