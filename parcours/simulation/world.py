"""Generate a realistic year of the network, calibrated on the published GEN 2020 figures.

Pure and deterministic: the same (year, scale, seed, today) gives the same world. The
period covers the second half of the previous year as well, so that the year has learners
carried over from it, as the network's "trained or in training" figure does.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.contracts.calendar import add_months

REGIONS = ("11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94")
REGION_WEIGHTS = (22, 4, 5, 6, 12, 9, 5, 5, 9, 9, 10, 8, 1)
# Job family (ROME) by programme mix: 59 % development, 14 % digital basics, 11 % project
# management and design, 16 % other.
JOB_FAMILIES = (("M1805", 59), ("M1802", 14), ("M1803", 6), ("E1205", 5), ("M1801", 10), ("M1810", 6))
DURATIONS = ((3, 15), (4, 15), (5, 12), (6, 14), (7, 10), (8, 8), (9, 7), (10, 5), (12, 6), (18, 3),
             (24, 3), (32, 2))
EDUCATION = (("below_3", 15), ("3", 14), ("4", 30), ("5", 20), ("6", 14), ("7", 6), ("8", 1))
GENDER = (("male", 72), ("female", 26), ("not_stated", 2))
EXIT_REASONS = (("certified", 45), ("completed", 18), ("not_certified", 10), ("dropped_out", 20),
                ("excluded", 2), ("transferred", 5))
DROPOUT_CAUSES = ("found_job", "personal", "health", "financial", "motivation", "other")
EMPLOYMENT_SPLIT = (("permanent_contract", 35), ("fixed_term_6m_plus", 20), ("self_employed", 10),
                    ("apprenticeship", 20), ("fixed_term_under_6m", 10), ("temporary_agency", 5))
# Among recorded situations: 46.4 % digital job, 26 % further study (GEN 2020), the rest.
SITUATION_GROUPS = (("digital_job", 464), ("further_study", 260), ("other_job", 120),
                    ("job_seeker", 125), ("inactive", 31))
RESPONSE_RATE = 0.70
PARIS = ZoneInfo("Europe/Paris")
# Among recorded outcomes, those with a second box ticked, lower in priority than the first.
SEVERAL_SITUATIONS = 0.08
ALSO_TRUE = {"employment": "further_study", "further_study": "job_seeker"}
# Exits dated 00:30 on the 1st of a month, Paris time (still the month before in UTC): a share of
# all exits, and a larger one in December so that every year has some on 1 January.
EXIT_AFTER_MIDNIGHT = 0.03
EXIT_AFTER_MIDNIGHT_DECEMBER = 0.25
FIRST_NAMES = ("Camille", "Nadia", "Yanis", "Lucas", "Ines", "Moussa", "Julie", "Karim", "Lea", "Hugo")
LAST_NAMES = ("Martin", "Bernard", "Diallo", "Nguyen", "Petit", "Haddad", "Moreau", "Lefebvre")


def pick(rng: random.Random, table) -> str:
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights)[0]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A moment of a French day: centres date their facts in Paris time."""
    return datetime.combine(day, time(hour, minute), PARIS)


@dataclass
class Programme:
    programme_id: uuid.UUID
    centre_id: uuid.UUID
    centre_name: str
    title: str
    region: str
    job_family: str
    duration_months: int
    capacity: int
    start_date: date


@dataclass
class Fact:
    event_id: uuid.UUID
    type: str
    occurred_at: datetime
    extra: dict = field(default_factory=dict)
    # How a centre gets it wrong first, as it does: posted late (after later facts), posted with
    # wrong values then amended to these, or posted although it never happened, then voided.
    late: bool = False
    first_posted: dict | None = None  # {"occurred_at": ..., **extra} as first posted
    spurious: bool = False


@dataclass
class Outcome:
    situation: str
    digital_job: bool
    observed_on: date
    # Other boxes the staff ticked as also true (working while studying, studying while
    # registered as a job seeker); `situation` is the one of them that counts.
    also: tuple[str, ...] = ()


@dataclass
class Application:
    index: int
    programme: int
    candidate: dict
    submitted_at: datetime
    decision: str
    decided_at: datetime
    reason: str | None = None
    # Training, for admitted candidates who start:
    facts: list[Fact] = field(default_factory=list)
    started_at: datetime | None = None
    exited_at: datetime | None = None
    exit_reason: str | None = None
    outcome: Outcome | None = None
    exempt: str | None = None  # out of scope of the follow-up (left the country, ...)
    # The hard cases of domain.md §7 this journey contains, for the ground truth's tally.
    cases: set[str] = field(default_factory=set)

    @property
    def profile(self) -> dict:
        return self.candidate


@dataclass
class World:
    year: int
    scale: float
    seed: int
    today: date
    programmes: list[Programme]
    applications: list[Application]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def generate(year: int, scale: float, seed: int, today: date | None = None) -> World:
    today = today or date.today()
    rng = random.Random(f"{year}:{scale}:{seed}")
    period_start = date(year - 1, 7, 1)
    period_days = (date(year, 12, 31) - period_start).days
    n_programmes = max(4, round(750 * scale))
    n_centres = max(2, n_programmes // 2)
    centres = [(_uuid(rng), f"Centre {i + 1}", rng.choices(REGIONS, REGION_WEIGHTS)[0]) for i in range(n_centres)]
    programmes = []
    for i in range(n_programmes):
        centre_id, centre_name, region = rng.choice(centres)
        start = period_start + timedelta(days=rng.randrange(period_days))
        programmes.append(Programme(
            programme_id=_uuid(rng), centre_id=centre_id, centre_name=centre_name,
            title=f"Programme {i + 1}", region=region, job_family=pick(rng, JOB_FAMILIES),
            duration_months=int(pick(rng, DURATIONS)), capacity=rng.randint(16, 40), start_date=start,
        ))
    applications: list[Application] = []
    for p_index, programme in enumerate(programmes):
        n_apps = max(3, round(rng.gauss(125, 30)))
        admit = min(programme.capacity, round(n_apps * rng.uniform(0.22, 0.30)))
        for k in range(n_apps):
            index = len(applications)
            submitted = at(programme.start_date - timedelta(days=rng.randint(10, 120)), rng.randint(7, 21),
                           rng.randint(0, 59))
            if submitted.date() > today:
                continue
            decided_day = min(submitted.date() + timedelta(days=rng.randint(1, 40)),
                              programme.start_date - timedelta(days=1))
            decided = max(at(decided_day, rng.randint(8, 18), rng.randint(0, 59)), submitted + timedelta(hours=1))
            if k < admit:
                decision, reason = "admitted", None
            else:
                decision = pick(rng, (("rejected", 62), ("waitlisted", 20), ("withdrawn", 18)))
                reason = rng.choice(("incomplete_file", "profile_mismatch", "not_eligible")) \
                    if decision == "rejected" else None
            app = Application(index, p_index, _candidate(rng, index, seed, programme, submitted),
                              submitted, decision, decided, reason)
            if decision == "admitted":
                _train(rng, app, programme, today)
            applications.append(app)
    applications.sort(key=lambda a: (a.submitted_at, a.index))
    return World(year, scale, seed, today, programmes, applications)


def _candidate(rng: random.Random, index: int, seed: int, programme: Programme, submitted: datetime) -> dict:
    band = pick(rng, (("under_26", 45), ("26_44", 45), ("45_plus", 10)))
    age = {"under_26": rng.randint(18, 25), "26_44": rng.randint(26, 44), "45_plus": rng.randint(45, 60)}[band]
    return {
        "first_name": rng.choice(FIRST_NAMES), "last_name": rng.choice(LAST_NAMES),
        "email": f"candidate{index}.s{seed}@example.org",
        "phone": f"06 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        "birth_year": submitted.year - age,
        "gender": pick(rng, GENDER), "education_level": pick(rng, EDUCATION),
        "qpv": rng.random() < 0.20, "zrr": rng.random() < 0.06, "job_seeker": rng.random() < 0.65,
        "region": programme.region if rng.random() < 0.9 else rng.choices(REGIONS, REGION_WEIGHTS)[0],
    }


def _train(rng: random.Random, app: Application, programme: Programme, today: date) -> None:
    """The training of an admitted candidate: facts in date order, exit, and the six-month outcome."""
    if rng.random() < 0.05:
        return  # no-show: admitted, never started
    start = at(programme.start_date + timedelta(days=rng.randint(0, 3)), 9)
    if start.date() >= today:
        return
    end = at(add_months(programme.start_date, programme.duration_months), 17)
    reason = pick(rng, EXIT_REASONS)
    if reason in ("dropped_out", "excluded", "transferred"):
        span = max(1, (end - start).days - 14)
        exit_at = at((start + timedelta(days=7 + rng.randrange(span))).date(), 16)
    else:
        exit_at = end
    exit_at = _near_midnight(rng, app, exit_at, today)
    facts = [Fact(_uuid(rng), "started", start)]
    if rng.random() < 0.08 and (exit_at - start).days > 60:
        stop = start + timedelta(days=rng.randint(20, (exit_at - start).days - 40), hours=1)
        facts.append(Fact(_uuid(rng), "interrupted", stop, {"reason": "health"}))
        facts.append(Fact(_uuid(rng), "resumed", stop + timedelta(days=rng.randint(7, 30))))
    moment = start + timedelta(days=30, hours=2)
    while moment < exit_at:
        facts.append(Fact(_uuid(rng), "attendance", moment, {"hours": float(rng.randint(40, 140))}))
        moment += timedelta(days=30)
    if rng.random() < 0.5:
        half = start + (exit_at - start) / 2 + timedelta(minutes=7)
        facts.append(Fact(_uuid(rng), "milestone", half, {"milestone": "first project delivered"}))
    facts.sort(key=lambda f: f.occurred_at)
    # Facts that fall inside an interruption are not posted: the learner was away.
    facts = _outside_interruptions(facts)
    app.started_at = start
    if exit_at.date() >= today:
        app.facts = [f for f in facts if f.occurred_at.date() < today]
        return
    extra = {"exit_reason": reason}
    if reason == "dropped_out":
        extra["dropout_cause"] = rng.choice(DROPOUT_CAUSES)
    facts = [f for f in facts if f.occurred_at <= exit_at]
    exit_fact = Fact(_uuid(rng), "exited", exit_at, extra)
    facts.append(exit_fact)
    _mistakes(rng, facts, exit_fact, today)
    app.facts, app.exited_at, app.exit_reason = facts, exit_at, reason
    observation = add_months(exit_at.date(), 6)
    if reason == "transferred" or observation > today:
        return
    if rng.random() < 0.015:
        app.exempt = rng.choice(("left_country", "long_term_illness", "deceased"))
        return
    if rng.random() < RESPONSE_RATE:
        group = pick(rng, SITUATION_GROUPS)
        if group in ("digital_job", "other_job"):
            app.outcome = Outcome(pick(rng, EMPLOYMENT_SPLIT), group == "digital_job", observation)
        else:
            app.outcome = Outcome(group, False, observation)
        also = ALSO_TRUE.get("employment" if group in ("digital_job", "other_job") else group)
        if also and rng.random() < SEVERAL_SITUATIONS:
            app.outcome.also = (also,)
            app.cases.add("several_situations")


def _near_midnight(rng: random.Random, app: Application, exit_at: datetime, today: date) -> datetime:
    """Some exits move to 00:30 on the 1st of the next month, Paris time: the French date is the
    1st (the observation date six months on too), the UTC date the last day of the month before."""
    rate = EXIT_AFTER_MIDNIGHT_DECEMBER if exit_at.month == 12 else EXIT_AFTER_MIDNIGHT
    if rng.random() >= rate:
        return exit_at
    first = add_months(exit_at.date().replace(day=1), 1)
    moved = at(first, 0, 30)
    if first >= today:
        return exit_at
    app.cases.add("exit_0030_paris_new_year" if first.month == 1 else "exit_0030_paris_first_of_month")
    app.cases.add("exit_0030_paris_summer_time" if moved.utcoffset() == timedelta(hours=2)
                  else "exit_0030_paris_winter_time")
    return moved


def _mistakes(rng: random.Random, facts: list[Fact], exit_fact: Fact, today: date) -> None:
    """Late uploads, wrong exits amended afterwards, and attendance posted by mistake then voided."""
    attendance = [f for f in facts if f.type == "attendance"]
    if attendance and rng.random() < 0.05:
        rng.choice(attendance).late = True
    if rng.random() < 0.03:
        wrong_reason = rng.choice([r for r, _ in EXIT_REASONS if r != exit_fact.extra["exit_reason"]])
        first = {"exit_reason": wrong_reason}
        if wrong_reason == "dropped_out":
            first["dropout_cause"] = "other"
        later = exit_fact.occurred_at + timedelta(days=10)
        first["occurred_at"] = later if later.date() < today else exit_fact.occurred_at
        exit_fact.first_posted = first
    if attendance and rng.random() < 0.02:
        start = facts[0].occurred_at
        facts.append(Fact(_uuid(rng), "attendance", start + timedelta(days=1, hours=3), {"hours": 7.0},
                          spurious=True))
        facts.sort(key=lambda f: f.occurred_at)


def _outside_interruptions(facts: list[Fact]) -> list[Fact]:
    kept, away = [], False
    for fact in facts:
        if fact.type == "interrupted":
            away = True
        elif fact.type == "resumed":
            away = False
        elif away and fact.type in ("attendance", "milestone"):
            continue
        kept.append(fact)
    return kept
