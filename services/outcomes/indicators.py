"""The indicators of the key figures (definitions v1): counts summed, rates derived (the cells
withheld for publication are disclosure's business).

Pure and synchronous. A change of definition is a new version beside this one, never an edit.
"""

from __future__ import annotations

from shared.contracts.vocabulary import (
    BAC_OR_LOWER,
    DURABLE,
    EMPLOYMENT,
    FOLLOWED_UP_EXITS,
    REFERRALS_COUNTED,
    SITUATIONS,
)

DEFINITIONS_VERSION = "v1"
SHARES = ("bac_or_lower", "women", "qpv", "zrr", "job_seekers", "under_26")
POSITIVE_DEFINITIONS = ("gen_2020", "employment_or_study_v1", "durable_employment_v1")
Cells = dict[tuple[str, bool], int]


def is_positive(definition: str, situation: str, digital_job: bool) -> bool:
    if definition == "gen_2020":
        return (situation in EMPLOYMENT and digital_job) or situation == "further_study"
    if definition == "employment_or_study_v1":
        return situation in EMPLOYMENT or situation == "further_study"
    if definition == "durable_employment_v1":
        return situation in DURABLE
    raise ValueError(f"unknown definition {definition!r}")


def rate(numerator: int, denominator: int) -> dict:
    """A rate always travels with its numerator and denominator; 0/0 is null, never 0."""
    value = round(numerator / denominator, 6) if denominator else None
    return {"value": value, "numerator": numerator, "denominator": denominator}


def indicators(counts: dict, outcome_cells: dict[tuple[str, bool], int]) -> dict:
    """The rates of the key figures from the counts and the (situation, digital_job) cells."""
    exits = counts["exits_by_reason"]
    known = counts["outcomes_recorded"]
    in_scope = counts["followups_in_scope"]
    learners = counts["learners_trained_or_in_training"]
    rates = {
        "admission_rate": rate(counts["applications_admitted"],
                               counts["applications_admitted"] + counts["applications_rejected"]),
        "applications_per_place": rate(counts["applications_submitted"], counts["places_offered"]),
        "completion_rate": rate(exits["completed"] + exits["certified"] + exits["not_certified"],
                                counts["exits_total"]),
        "certification_rate": rate(exits["certified"], exits["certified"] + exits["not_certified"]),
        "dropout_rate": rate(exits["dropped_out"] + exits["excluded"], counts["exits_total"]),
        "response_rate": rate(known, in_scope),
    }
    for share in SHARES:
        rates[f"share_{share}"] = rate(counts[f"learners_{share}"], learners)
    rates["positive_exit_rate"] = {}
    rates["positive_exit_rate_strict"] = {}
    for definition in POSITIVE_DEFINITIONS:
        positive = sum(n for (situation, digital), n in outcome_cells.items()
                       if is_positive(definition, situation, digital))
        rates["positive_exit_rate"][definition] = rate(positive, known)
        rates["positive_exit_rate_strict"][definition] = rate(positive, in_scope)
    digital = sum(n for (s, d), n in outcome_cells.items() if s in EMPLOYMENT and d)
    other = sum(n for (s, d), n in outcome_cells.items() if s in EMPLOYMENT and not d)
    rates["share_digital_job"] = rate(digital, known)
    rates["share_other_job"] = rate(other, known)
    rates["share_further_study"] = rate(counts["outcomes_by_situation"]["further_study"], known)
    return rates


def complete_counts(raw: dict, outcome_cells: dict[tuple[str, bool], int]) -> dict:
    """Fill the derived counts so that every key is present, zero included."""
    counts = dict(raw)
    exits = {reason: int(raw["exits_by_reason"].get(reason, 0)) for reason in FOLLOWED_UP_EXITS}
    counts["exits_by_reason"] = exits
    for key in ("applications_by_referral", "admissions_by_referral"):
        counts[key] = {source: int(raw.get(key, {}).get(source, 0)) for source in REFERRALS_COUNTED}
    counts["exits_total"] = sum(exits.values())
    by_situation = dict.fromkeys(SITUATIONS, 0)
    for (situation, _digital), n in outcome_cells.items():
        by_situation[situation] += n
    counts["outcomes_by_situation"] = by_situation
    counts["outcomes_recorded"] = sum(by_situation.values())
    counts["outcomes_digital_job"] = sum(
        n for (s, d), n in outcome_cells.items() if s in EMPLOYMENT and d
    )
    return {k: (int(v) if isinstance(v, int) else v) for k, v in counts.items()}


# Counts per code, summed code by code over programmes.
NESTED = ("exits_by_reason", "applications_by_referral", "admissions_by_referral")
# Counts that are plain sums over programmes (the NESTED ones are summed code by code).
SUMMED = (
    "applications_submitted", "applications_admitted", "applications_waitlisted", "applications_rejected",
    "applications_withdrawn", "places_offered", "learners_started", "learners_trained_or_in_training",
    *(f"learners_{share}" for share in SHARES), "followups_in_scope", "followups_exempt",
)


def empty_raw() -> dict:
    return {**dict.fromkeys(SUMMED, 0), **{key: {} for key in NESTED}}


def add_raw(total: dict, part: dict) -> dict:
    """Sum two sets of raw counts (as read per programme)."""
    out = {key: total.get(key, 0) + part.get(key, 0) for key in SUMMED}
    for key in NESTED:
        mine, theirs = total.get(key, {}), part.get(key, {})
        out[key] = {code: mine.get(code, 0) + theirs.get(code, 0) for code in mine.keys() | theirs.keys()}
    return out


def add_cells(total: Cells, part: Cells) -> Cells:
    out = dict(total)
    for key, n in part.items():
        out[key] = out.get(key, 0) + n
    return out


def figures(raw: dict, cells: Cells) -> dict:
    """Counts and rates of one population (the network, or one group of a breakdown)."""
    counts = complete_counts(raw, cells)
    return {"counts": counts, "rates": indicators(counts, cells)}


def group(per_programme: dict, key_of) -> dict:
    """Sum per-programme (raw, cells) into groups named by `key_of(programme_id)`."""
    groups: dict = {}
    for programme_id, (raw, cells) in per_programme.items():
        key = key_of(programme_id)
        total_raw, total_cells = groups.get(key, (empty_raw(), {}))
        groups[key] = (add_raw(total_raw, raw), add_cells(total_cells, cells))
    return groups


# Who counts in each share of learners, from a person's profile (her latest admission).
SHARE_OF = {
    "bac_or_lower": lambda p: p.get("education_level") in BAC_OR_LOWER,
    "women": lambda p: p.get("gender") == "female",
    "qpv": lambda p: bool(p.get("qpv")),
    "zrr": lambda p: bool(p.get("zrr")),
    "job_seekers": lambda p: bool(p.get("job_seeker")),
    "under_26": lambda p: p.get("age_band") == "under_26",
}
PEOPLE = ("learners_started", "learners_trained_or_in_training", *(f"learners_{share}" for share in SHARES))


def people(enrolments: list[tuple], profiles: dict, key_of) -> dict:
    """The learner counts of each group, counting people: a person with several enrolments in a
    group (re-admitted, transferred within it) counts once there, with her profile.

    `enrolments` are (learner_id, programme_id, started_in_year) of the enrolments trained or in
    training during the year; `key_of(programme_id)` names the group.
    """
    started: dict = {}
    for learner_id, programme_id, in_year in enrolments:
        group_started = started.setdefault(key_of(programme_id), {})
        group_started[learner_id] = group_started.get(learner_id, False) or in_year
    counts = {}
    for key, learners in started.items():
        found = [profiles.get(learner_id, {}) for learner_id in learners]
        counts[key] = {"learners_started": sum(learners.values()), "learners_trained_or_in_training": len(learners),
                       **{f"learners_{share}": sum(map(SHARE_OF[share], found)) for share in SHARES}}
    return counts


def with_people(groups: dict, counts: dict) -> dict:
    """Groups of (raw, cells) with their learner counts replaced by the people counted."""
    out = {}
    for key, (raw, cells) in groups.items():
        out[key] = ({**raw, **dict.fromkeys(PEOPLE, 0), **counts.get(key, {})}, cells)
    return out
