"""The words a person reads for each code of the vocabulary, declared once: the staff page and
the report show these, never the codes (a test holds every code of vocabulary.py to a label).

Plain data, in English: each label is a message of the pages' catalogue (shared/i18n), which
says it in French. `N_` only marks them for `make messages`; they are translated when shown.
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark now, translate when shown"
    return message


SITUATION = {
    "permanent_contract": N_("permanent contract (CDI)"),
    "fixed_term_6m_plus": N_("fixed-term contract of 6 months or more (CDD)"),
    "self_employed": N_("self-employed or business creation"),
    "apprenticeship": N_("work-study contract (alternance)"),
    "fixed_term_under_6m": N_("fixed-term contract under 6 months (CDD)"),
    "temporary_agency": N_("temporary agency work (intérim)"),
    "further_study": N_("further study or training"),
    "job_seeker": N_("job seeker"),
    "inactive": N_("inactive"),
}
EXIT_REASON = {
    "completed": N_("completed"),
    "certified": N_("certified"),
    "not_certified": N_("not certified"),
    "dropped_out": N_("dropped out"),
    "excluded": N_("excluded"),
    "transferred": N_("transferred to another programme"),
}
REFERRAL = {
    "self": N_("the candidate herself"),
    "employment_service": N_("the employment service (France Travail)"),
    "mission_locale": N_("a mission locale"),
    "other_partner": N_("another partner (Onisep, an association…)"),
    "not_stated": N_("not stated"),
}
INFORMATION_SOURCE = {
    "learner_statement": N_("learner's statement"),
    "employer": N_("employer"),
    "administrative_record": N_("administrative record"),
}
EXEMPT_REASON = {"deceased": N_("deceased"), "long_term_illness": N_("long-term illness"),
                 "left_country": N_("left the country")}
MODE = {"in_person": N_("in person"), "remote": N_("remote"), "hybrid": N_("hybrid")}
FOLLOWUP_STATUS = {
    "scheduled": N_("scheduled"),
    "due": N_("due"),
    "attempted": N_("attempted"),
    "overdue": N_("overdue"),
    "recorded": N_("recorded"),
    "unreachable": N_("unreachable"),
    "refused": N_("refused to answer"),
    "exempt": N_("exempt"),
}
CONTACT_CHANNEL = {"phone": N_("phone"), "email": N_("e-mail"), "sms": N_("text message"), "letter": N_("letter"),
                   "visit": N_("visit")}
CONTACT_RESULT = {
    "reached": N_("reached"),
    "no_answer": N_("no answer"),
    "message_left": N_("message left"),
    "wrong_contact": N_("wrong contact details"),
    "refused": N_("refused to answer"),
}
DROPOUT_CAUSE = {
    "found_job": N_("found a job"),
    "personal": N_("personal reasons"),
    "health": N_("health"),
    "financial": N_("financial difficulties"),
    "motivation": N_("motivation"),
    "other": N_("other"),
}
ENROLMENT_STATE = {
    "admitted": N_("admitted, not started"),
    "started": N_("in training"),
    "interrupted": N_("interrupted"),
    "exited": N_("left the programme"),
    "withdrawn": N_("withdrawn"),
    "no_show": N_("never came"),
}
APPLICATION_STATUS = {
    "submitted": N_("submitted"),
    "screened": N_("screened"),
    "admitted": N_("admitted"),
    "waitlisted": N_("waitlisted"),
    "rejected": N_("rejected"),
    "withdrawn": N_("withdrawn"),
    "no_show": N_("never came"),
}
# The ROME job families the network's programmes prepare for (a code not listed shows as itself).
JOB_FAMILY = {
    "M1801": N_("systems administration"),
    "M1802": N_("IT expertise and support"),
    "M1803": N_("IT management"),
    "M1805": N_("software development"),
    "M1806": N_("digital project management"),
    "M1810": N_("IT production and operations"),
    "E1101": N_("digital content and community management"),
    "E1104": N_("web content design"),
    "E1205": N_("web and multimedia design"),
}
FUNDING_LINE = {
    "gen_label": N_("labelled network (GEN)"),
    "public_contract_2021": N_("employment service contract 2021-22"),
    "other": N_("other funding"),
}


def choices(labels: dict[str, str]) -> list[tuple[str, str]]:
    """(code, label) in the vocabulary's order, for a form's choices."""
    return list(labels.items())
