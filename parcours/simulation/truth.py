"""The ground truth: every count of the key figures, computed from the generated world alone.

Written independently of the outcomes service's SQL, from the definitions (v1), so that
equality between the two proves that nothing was lost or counted twice on the way.
"""

from __future__ import annotations

from datetime import UTC, datetime

from parcours.simulation.world import World

DECISIONS = ("admitted", "waitlisted", "rejected", "withdrawn")
EXIT_REASONS = ("completed", "certified", "not_certified", "dropped_out", "excluded")
FOLLOWED_UP = frozenset(EXIT_REASONS)
SITUATIONS = ("permanent_contract", "fixed_term_6m_plus", "self_employed", "apprenticeship",
              "fixed_term_under_6m", "temporary_agency", "further_study", "job_seeker", "inactive")
EMPLOYMENT = frozenset(SITUATIONS[:6])


def ground_truth(world: World, year: int | None = None) -> dict:
    year = year or world.year
    lo, hi = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)

    def in_year(moment: datetime | None) -> bool:
        return moment is not None and lo <= moment < hi

    apps = world.applications
    counts: dict = {"applications_submitted": sum(in_year(a.submitted_at) for a in apps)}
    for decision in DECISIONS:
        counts[f"applications_{decision}"] = sum(a.decision == decision and in_year(a.decided_at) for a in apps)
    counts["places_offered"] = sum(p.capacity for p in world.programmes if p.start_date.year == year)
    learners = [a for a in apps if a.started_at is not None]
    counts["learners_started"] = sum(in_year(a.started_at) for a in learners)
    tit = [a for a in learners if a.started_at < hi and (a.exited_at is None or a.exited_at >= lo)]
    counts["learners_trained_or_in_training"] = len(tit)
    c = [a.candidate for a in tit]
    counts["learners_bac_or_lower"] = sum(x["education_level"] in ("below_3", "3", "4") for x in c)
    counts["learners_women"] = sum(x["gender"] == "female" for x in c)
    counts["learners_qpv"] = sum(x["qpv"] for x in c)
    counts["learners_zrr"] = sum(x["zrr"] for x in c)
    counts["learners_job_seekers"] = sum(x["job_seeker"] for x in c)
    counts["learners_under_26"] = sum(
        x["birth_year"] > a.submitted_at.year - 26 for x, a in zip(c, tit, strict=True)
    )
    exits = {r: sum(a.exit_reason == r and in_year(a.exited_at) for a in learners) for r in EXIT_REASONS}
    counts["exits_by_reason"] = exits
    counts["exits_total"] = sum(exits.values())
    cohort = [a for a in learners if a.exit_reason in FOLLOWED_UP and in_year(a.exited_at)]
    counts["followups_in_scope"] = sum(a.exempt is None for a in cohort)
    counts["followups_exempt"] = sum(a.exempt is not None for a in cohort)
    known = [a.outcome for a in cohort if a.outcome is not None and a.exempt is None]
    counts["outcomes_by_situation"] = {s: sum(o.situation == s for o in known) for s in SITUATIONS}
    counts["outcomes_recorded"] = len(known)
    counts["outcomes_digital_job"] = sum(o.digital_job and o.situation in EMPLOYMENT for o in known)
    return counts
