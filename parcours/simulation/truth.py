"""The ground truth: every count of the key figures, computed from the generated world alone.

Written independently of the outcomes service's SQL, from the definitions (v1), so that
equality between the two proves that nothing was lost or counted twice on the way, and that the
rules hold: learners are people (each once, with her latest admission's attributes and her age
band at entry), exits and follow-ups are enrolments, a transfer is no exit, a no-show's place
goes to the first waitlisted, several situations count under the first by priority, and every
date is a French civil date.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from parcours.simulation.world import World
from shared.contracts.calendar import add_months
from shared.contracts.vocabulary import DECISIONS, EMPLOYMENT, FOLLOWED_UP_EXITS, REFERRALS_COUNTED, SITUATIONS

EXIT_REASONS = FOLLOWED_UP_EXITS  # `transferred` is not an exit from the network
FOLLOWED_UP = frozenset(FOLLOWED_UP_EXITS)
PARIS = ZoneInfo("Europe/Paris")


def ground_truth(world: World, year: int | None = None, funding_line: str | None = None) -> dict:
    """The key-figure counts of the year, from the world alone: of the whole network, or of the
    programmes of one funding line (a person counts in it through her enrolments there)."""
    year = year or world.year
    ours = [funding_line in (None, p.funding_line) for p in world.programmes]
    # The year is the French civil year: it starts at midnight in Paris (domain.md §1).
    lo, hi = datetime(year, 1, 1, tzinfo=PARIS), datetime(year + 1, 1, 1, tzinfo=PARIS)

    def in_year(moment: datetime | None) -> bool:
        return moment is not None and lo <= moment < hi

    apps = [a for a in world.applications if ours[a.programme]]
    counts: dict = {"applications_submitted": sum(in_year(a.submitted_at) for a in apps)}
    for decision in DECISIONS:
        counts[f"applications_{decision}"] = sum(a.final_decision == decision and in_year(a.final_decided_at)
                                                 for a in apps)
    for key, counted in (("applications_by_referral", lambda a: in_year(a.submitted_at)),
                         ("admissions_by_referral", lambda a: a.admitted and in_year(a.final_decided_at))):
        counts[key] = {source: sum(counted(a) and (a.referral_source or "not_stated") == source for a in apps)
                       for source in REFERRALS_COUNTED}
    counts["places_offered"] = sum(s.capacity for p, mine in zip(world.programmes, ours, strict=True) if mine
                                   for s in p.sessions if s.start_date.year == year)
    trainings = [(a, t) for a, t in world.trainings() if ours[t.programme]]
    people_started, people_in_training = set(), set()
    for app, t in trainings:
        if t.started_at < hi and (t.exited_at is None or t.exited_at >= lo):
            people_in_training.add(app.person)
            if in_year(t.started_at):
                people_started.add(app.person)
    counts["learners_started"] = len(people_started)
    counts["learners_trained_or_in_training"] = len(people_in_training)
    admissions: dict[int, list] = {}
    for a in world.applications:  # a learner's attributes are those of her latest admission anywhere
        if a.admitted:
            admissions.setdefault(a.person, []).append(a)
    profiles = {person: _profile(world, admissions[person], hi) for person in people_in_training}
    counts["learners_bac_or_lower"] = sum(p["education_level"] in ("below_3", "3", "4") for p in profiles.values())
    counts["learners_women"] = sum(p["gender"] == "female" for p in profiles.values())
    counts["learners_qpv"] = sum(p["qpv"] for p in profiles.values())
    counts["learners_zrr"] = sum(p["zrr"] for p in profiles.values())
    counts["learners_job_seekers"] = sum(p["job_seeker"] for p in profiles.values())
    counts["learners_under_26"] = sum(p["under_26"] for p in profiles.values())
    exits = {r: sum(t.exit_reason == r and in_year(t.exited_at) for _, t in trainings) for r in EXIT_REASONS}
    counts["exits_by_reason"] = exits
    counts["exits_total"] = sum(exits.values())
    cohort = [t for _, t in trainings if t.exit_reason in FOLLOWED_UP and in_year(t.exited_at)]
    counts["followups_in_scope"] = sum(t.exempt is None for t in cohort)
    counts["followups_exempt"] = sum(t.exempt is not None for t in cohort)
    # With several boxes ticked, the person counts under the first in the vocabulary's order.
    known = [(next(s for s in SITUATIONS if s in (t.outcome.situation, *t.outcome.also)), t.outcome.digital_job)
             for t in cohort if t.outcome is not None and t.exempt is None]
    counts["outcomes_by_situation"] = {s: sum(counted == s for counted, _ in known) for s in SITUATIONS}
    counts["outcomes_recorded"] = len(known)
    counts["outcomes_digital_job"] = sum(digital and counted in EMPLOYMENT for counted, digital in known)
    return counts


def _profile(world: World, admissions: list, hi: datetime) -> dict:
    """A learner's attributes: her own, with the age band at the start of the session of her latest
    admission decided before the year's end (any later one otherwise)."""
    latest = max(admissions, key=lambda a: (a.final_decided_at < hi, a.final_decided_at))
    candidate = world.people[latest.person].candidate
    entry_year = world.programmes[latest.programme].sessions[latest.session].start_date.year
    return {**candidate, "under_26": entry_year - candidate["birth_year"] < 26}


def cases(world: World, year: int | None = None) -> dict[str, int]:
    """How many journeys of each hard case (domain.md §7) the world holds, among the applications
    submitted by the end of the year after (what the year's report and its follow-ups see)."""
    year = year or world.year
    tally: dict[str, int] = {}
    for a in world.applications:
        if a.submitted_at.astimezone(PARIS).year > year + 1:
            continue
        for case in a.cases:
            tally[case] = tally.get(case, 0) + 1
    people = {a.person for a in world.applications}
    several = sum(n > 1 for n in _applications_per_person(world).values())
    tally["people_applying_several_times"] = several
    tally["programmes_with_several_sessions"] = sum(len(p.sessions) > 1 for p in world.programmes)
    tally["programme_mode_changed"] = sum(bool(p.mode_changes) for p in world.programmes)
    tally["programme_back_to_usual_mode"] = sum(len(p.mode_changes) > 1 for p in world.programmes)
    tally["applications_per_person_x100"] = round(100 * len(world.applications) / max(1, len(people)))
    return dict(sorted(tally.items()))


def _applications_per_person(world: World) -> dict[int, int]:
    found: dict[int, int] = {}
    for a in world.applications:
        found[a.person] = found.get(a.person, 0) + 1
    return found


def network_figures(world: World, year: int | None = None) -> dict:
    """The network's own published figures (domain.md §6), from the world alone: people per target
    job, programmes whose delivery mode changed, people trained since the first year, and the
    positive exit (gen_2020) of every exit cohort."""
    year = year or world.year
    lo, hi = datetime(year, 1, 1, tzinfo=PARIS), datetime(year + 1, 1, 1, tzinfo=PARIS)
    trainings = list(world.trainings())
    jobs: dict[str, set] = {}
    for app, t in trainings:
        if t.started_at < hi and (t.exited_at is None or t.exited_at >= lo):
            jobs.setdefault(world.programmes[t.programme].job_family, set()).add(app.person)
    first, end = date(year, 1, 1), date(year + 1, 1, 1)
    running = [p for p in world.programmes
               if any(s.start_date < end and add_months(s.start_date, p.duration_months) >= first for s in p.sessions)]
    changed = [p for p in running if any(first <= day < end for day, _ in p.mode_changes)]
    back = [p for p in changed if ([mode for day, mode in p.mode_changes if day < end] or ["in_person"])[-1]
            == "in_person"]
    cohorts = sorted({t.exited_at.astimezone(PARIS).year for _, t in trainings
                      if t.exit_reason in FOLLOWED_UP and t.exempt is None and t.exited_at < hi})
    yearly = {}
    for y in cohorts:
        counts = ground_truth(world, y)
        yearly[y] = (counts["outcomes_digital_job"] + counts["outcomes_by_situation"]["further_study"],
                     counts["outcomes_recorded"])
    return {"target_jobs": {job: len(people) for job, people in jobs.items()},
            "mode_changes": {"programmes": len(running), "changed": len(changed), "back_by_31_december": len(back)},
            "people_trained": len({app.person for app, t in trainings if t.started_at < hi}),
            "positive_by_year": {str(y): list(v) for y, v in yearly.items()}}
