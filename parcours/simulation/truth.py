"""The ground truth: every count of the key figures, computed from the generated world alone.

Written independently of the outcomes service's SQL, from the definitions (v1), so that
equality between the two proves that nothing was lost or counted twice on the way.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from parcours.simulation.world import World
from shared.contracts.vocabulary import DECISIONS, EMPLOYMENT, FOLLOWED_UP_EXITS, SITUATIONS

EXIT_REASONS = FOLLOWED_UP_EXITS  # `transferred` is not an exit from the network
FOLLOWED_UP = frozenset(FOLLOWED_UP_EXITS)
PARIS = ZoneInfo("Europe/Paris")


def ground_truth(world: World, year: int | None = None) -> dict:
    year = year or world.year
    # The year is the French civil year: it starts at midnight in Paris (domain.md §1).
    lo, hi = datetime(year, 1, 1, tzinfo=PARIS), datetime(year + 1, 1, 1, tzinfo=PARIS)

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
        x["birth_year"] > a.submitted_at.astimezone(PARIS).year - 26 for x, a in zip(c, tit, strict=True)
    )
    exits = {r: sum(a.exit_reason == r and in_year(a.exited_at) for a in learners) for r in EXIT_REASONS}
    counts["exits_by_reason"] = exits
    counts["exits_total"] = sum(exits.values())
    cohort = [a for a in learners if a.exit_reason in FOLLOWED_UP and in_year(a.exited_at)]
    counts["followups_in_scope"] = sum(a.exempt is None for a in cohort)
    counts["followups_exempt"] = sum(a.exempt is not None for a in cohort)
    # With several boxes ticked, the person counts under the first in the vocabulary's order.
    known = [(next(s for s in SITUATIONS if s in (a.outcome.situation, *a.outcome.also)), a.outcome.digital_job)
             for a in cohort if a.outcome is not None and a.exempt is None]
    counts["outcomes_by_situation"] = {s: sum(counted == s for counted, _ in known) for s in SITUATIONS}
    counts["outcomes_recorded"] = len(known)
    counts["outcomes_digital_job"] = sum(digital and counted in EMPLOYMENT for counted, digital in known)
    return counts


def cases(world: World, year: int | None = None) -> dict[str, int]:
    """How many journeys of each hard case (domain.md §7) the world holds, among those whose
    exit is dated in the year or the year after (what the year's report and its follow-ups see)."""
    year = year or world.year
    tally: dict[str, int] = {}
    for a in world.applications:
        if a.exited_at is not None and a.exited_at.astimezone(PARIS).year not in (year, year + 1):
            continue
        for case in a.cases:
            tally[case] = tally.get(case, 0) + 1
    return dict(sorted(tally.items()))
