"""The key figures as a person or a spreadsheet reads them: the words of each count and rate (from
the pages' catalogue, French first), and the CSV with every figure of the JSON.

Shared by the manager's dashboard (its downloads) and `parcours report`, so that a figure has one
name wherever it is read. Pure: figures in, text out.
"""

from __future__ import annotations

import csv
import io

from services.outcomes.disclosure import WITHHELD
from shared.contracts import labels
from shared.contracts.labels import N_
from shared.i18n import Words

PER_PLACE = "applications_per_place"  # a ratio (4.01), where every other rate is a share
COUNTS = {
    "applications_submitted": N_("Applications submitted"),
    "applications_admitted": N_("Admitted"),
    "applications_waitlisted": N_("Waitlisted"),
    "applications_rejected": N_("Rejected"),
    "applications_withdrawn": N_("Withdrawn"),
    "places_offered": N_("Places offered (sessions starting in the year)"),
    "learners_started": N_("Learners who started (people)"),
    "learners_trained_or_in_training": N_("Learners trained or in training (people)"),
    "exits_total": N_("Exits (enrolments, transfers excluded)"),
    "followups_in_scope": N_("Six-month follow-ups in scope"),
    "followups_exempt": N_("Follow-ups exempt"),
    "outcomes_recorded": N_("Situations known at six months"),
}
# Each rate by its path in the figures, with its words, in the order a report reads them.
RATES = [
    (("admission_rate",), N_("Admission rate")),
    (("applications_per_place",), N_("Applications per place")),
    (("share_bac_or_lower",), N_("Share with the baccalauréat or lower")),
    (("share_women",), N_("Share of women")),
    (("share_qpv",), N_("Share living in a QPV")),
    (("share_zrr",), N_("Share living in a ZRR")),
    (("share_job_seekers",), N_("Share of job seekers")),
    (("share_under_26",), N_("Share under 26")),
    (("completion_rate",), N_("Completion rate")),
    (("certification_rate",), N_("Certification rate")),
    (("dropout_rate",), N_("Drop-out rate")),
    (("response_rate",), N_("Follow-up response rate")),
    (("positive_exit_rate", "gen_2020"), N_("Positive exit rate (GEN 2020 definition)")),
    (("share_digital_job",), N_("of which a digital job")),
    (("share_further_study",), N_("of which further study")),
    (("positive_exit_rate", "employment_or_study_v1"), N_("Positive exit: any job or further study")),
    (("positive_exit_rate", "durable_employment_v1"), N_("Positive exit: durable employment")),
    (("positive_exit_rate_strict", "gen_2020"), N_("Positive exit, an unknown situation counted as not positive")),
]
# The definitions of a positive exit a reader may choose, and what each counts.
DEFINITIONS = {
    "gen_2020": N_("GEN 2020: a job in the digital sector or further study"),
    "employment_or_study_v1": N_("any job or further study"),
    "durable_employment_v1": N_("durable employment: CDI, CDD of 6 months or more, self-employed"),
}
BREAKDOWNS = {
    "region": N_("region"), "departement": N_("département"), "programme": N_("programme"),
    "centre": N_("training centre"), "job_family": N_("job family"), "certification": N_("certification"),
    "mode": N_("delivery mode"), "label_year": N_("label year"), "funding_line": N_("funding line"),
}
# The breakdowns whose group keys are codes with words of their own.
NAMED_GROUPS = {"mode": labels.MODE, "funding_line": labels.FUNDING_LINE, "job_family": labels.JOB_FAMILY}


def funnel(counts: dict, rates: dict) -> list[tuple[str, object]]:
    """The journey's steps, from application to a positive situation six months after."""
    return [(N_("Applications"), counts["applications_submitted"]), (N_("Admitted"), counts["applications_admitted"]),
            (N_("Started"), counts["learners_started"]), (N_("Exits"), counts["exits_total"]),
            (N_("Followed up"), counts["followups_in_scope"]), (N_("Situation known"), counts["outcomes_recorded"]),
            (N_("Positive exit (GEN 2020)"), rates["positive_exit_rate"]["gen_2020"]["numerator"])]


# The columns of a breakdown's table.
GROUP_COLUMNS = (N_("group"), N_("applications"), N_("learners"), N_("exits"),
                 N_("Positive exit rate (GEN 2020 definition)"))


def who_is_counted(w: Words, figures: dict) -> str:
    """The sentence that says which cohorts the figures count, and what is withheld."""
    cohorts = figures["cohorts"]
    text = w._("Definitions %(version)s; %(followups)s. Learners: %(learners)s. Exits: %(exits)s.",
               version=figures["definitions"], followups=w._(cohorts["followups"]),
               learners=w._(cohorts["learners"]), exits=w._(cohorts["exits"]))
    if figures.get("suppressed_under"):
        text += " " + w._("Counts under %(n)s are withheld, and so are those that would give them away; a withheld "
                          "figure reads %(mark)s.", n=figures["suppressed_under"], mark=WITHHELD)
    return text


def rate_at(rates: dict, path: tuple[str, ...]) -> dict:
    node = rates
    for key in path:
        node = node[key]
    return node


def rate_rows(w: Words, rates: dict) -> list[tuple[str, str, dict]]:
    """(name, words, rate) for every rate of a report."""
    return [(".".join(path), w._(words), rate_at(rates, path)) for path, words in RATES]


def count_rows(w: Words, counts: dict) -> list[tuple[str, object]]:
    rows = [(w._(words), counts[key]) for key, words in COUNTS.items()]
    rows += [(w._("Exits: %(reason)s", reason=w.label(labels.EXIT_REASON, reason)), n)
             for reason, n in counts["exits_by_reason"].items()]
    rows += [(w._("Situation: %(situation)s", situation=w.label(labels.SITUATION, situation)), n)
             for situation, n in counts["outcomes_by_situation"].items()]
    rows += [(w._("Applications referred by %(source)s", source=w.label(labels.REFERRAL, source)), n)
             for source, n in counts.get("applications_by_referral", {}).items()]
    rows += [(w._("Admissions referred by %(source)s", source=w.label(labels.REFERRAL, source)), n)
             for source, n in counts.get("admissions_by_referral", {}).items()]
    return rows


def shown_rate(w: Words, rate: dict, per_place: bool = False) -> str:
    """72,4 % in French; a ratio as 4,01; a withheld rate as its mark; 0/0 as n/a."""
    value = rate["value"]
    if isinstance(value, str):
        return value
    if value is None:
        return w._("n/a (0/0)")
    return w.number(value, 2) if per_place else w.percent(value)


def group_label(w: Words, by: str, group: dict) -> str:
    named = NAMED_GROUPS.get(by)
    return w.label(named, group["key"]) if named else str(group.get("label") or group["key"])


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) in a programme
# title): such a text cell is written with a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def count_columns(counts: dict) -> list[tuple[str, object]]:
    """Every count of a population, by name: nested ones (exits by reason, situations) as exits_by_reason.certified."""
    columns = []
    for key, value in counts.items():
        if isinstance(value, dict):
            columns += [(f"{key}.{sub}", n) for sub, n in value.items()]
        else:
            columns.append((key, value))
    return columns


def rate_columns(rates: dict, prefix: str = "") -> list[tuple[str, dict]]:
    """Every rate of a population, by name: positive_exit_rate.gen_2020 for the nested ones."""
    columns = []
    for key, node in rates.items():
        if "denominator" in node:
            columns.append((prefix + key, node))
        else:
            columns += rate_columns(node, f"{prefix}{key}.")
    return columns


def format_csv(figures: dict) -> str:
    """One row for the network and one per group, with every count and every rate of the JSON (each
    rate as its value, numerator and denominator); a withheld figure reads as in the JSON. The
    columns are the JSON's names, for a program or a spreadsheet's formulas in any language."""
    out = io.StringIO()
    writer = csv.writer(out)
    counts = [name for name, _ in count_columns(figures["counts"])]
    rates = [name for name, _ in rate_columns(figures["rates"])]
    header = ["year", "group_by", "group", *counts]
    for name in rates:
        header += [name, f"{name}.numerator", f"{name}.denominator"]
    writer.writerow(header)
    by = figures.get("breakdown", {}).get("by", "")
    blocks = [("network", figures)] + [(g["label"], g) for g in figures.get("breakdown", {}).get("groups", [])]
    for label, block in blocks:
        found = dict(count_columns(block["counts"]))
        row = [figures["year"], by if label != "network" else "", label, *(found.get(name) for name in counts)]
        nodes = dict(rate_columns(block["rates"]))
        for name in rates:
            node = nodes.get(name, {})
            row += [node.get("value"), node.get("numerator"), node.get("denominator")]
        writer.writerow([cell(v) for v in row])
    return out.getvalue()
