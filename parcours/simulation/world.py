"""Generate a realistic year of the network, calibrated on the published GEN 2020 figures.

Pure and deterministic: the same (year, scale, seed, today) gives the same world. The
period covers the second half of the previous year as well, so that the year has learners
carried over from it, as the network's "trained or in training" figure does.

The world holds the journeys as they really happen (domain.md §7): people who apply to several
programmes, programmes with one to three sessions, no-shows whose place goes to the first
waitlisted candidate, people re-admitted after a drop-out or retaking a failed certification,
transfers that continue in another programme, people admitted twice who start once, decisions
that contradict a started training (refused), contacts that stay unreachable or refuse,
outcomes corrected, several situations ticked, and exits just after midnight in Paris. Each
journey notes the cases it holds, for the ground truth's tally.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.intake.geography import REGION_OF_DEPARTEMENT
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
# Calibrated on GEN 2020's totals at scale 1.0 (about 50,000 applications, 13,000 admissions,
# 15,000 people trained or in training): programmes, applications per session, the share of a
# session's applicants admitted, and the places kept for re-admissions.
PROGRAMMES = 545
# Funding lines: the labelled network, and from 2021 the employment service's contract for 10,000
# extra learners (2021-22); a few programmes are funded otherwise.
FUNDING = {2020: (("gen_label", 88), ("other", 12)),
           2021: (("gen_label", 70), ("public_contract_2021", 25), ("other", 5))}
# Who referred the candidates (the network publishes the sources, not their shares: assumed).
REFERRALS = (("self", 45), ("employment_service", 25), ("mission_locale", 15), ("other_partner", 10), (None, 5))
CERTIFICATIONS = (("RNCP37674", 40), ("RNCP31114", 25), ("RNCP35584", 20), (None, 15))
FIRST_LABEL_YEAR = 2016
# Sessions start from this month of the year before: the carry-over into the year.
PERIOD_STARTS_IN_MONTH = 11
APPLICATIONS_PER_SESSION = 72
ADMISSION_SHARE = (0.19, 0.26)
KEPT_PLACES = 1
# The network does not publish how many applications a person makes: about 1.5 is assumed.
APPLICATIONS_PER_PERSON = 1.5
SESSIONS_PER_PROGRAMME = ((1, 45), (2, 35), (3, 20))
NO_SHOW = 0.05
# Of those who dropped out, and of those who failed the certification, the share admitted again
# to a later session of the same programme (where there is one with a place).
READMITTED = {"dropped_out": 0.3, "not_certified": 0.5}
# Of the exits, the share of transfers that continue in another programme (the rest of the
# `transferred` exits name no destination, as a centre may post them).
TRANSFER_CONTINUES = 0.8
# Of the learners started, the share whose centre later tries to withdraw the admission (refused).
DECISION_AFTER_START = 0.01
# Of the follow-ups without an answer, closed as unreachable, and refused at a contact attempt.
UNREACHABLE, REFUSED = 0.30, 0.10
# Of the outcomes recorded, those recorded wrong first and corrected.
OUTCOME_CORRECTED = 0.03
# GEN 2020: 44.5 % of programmes changed their delivery mode during the year (moving online, most
# from mid-March), 43 % of those were back to their usual mode by 31 December.
MODE_CHANGED, MODE_BACK = 0.445, 0.43
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
class Session:
    session_id: uuid.UUID
    start_date: date
    capacity: int
    # The first session is created with its programme (intake names it); applications to it name
    # no session.
    first: bool = False


@dataclass
class Programme:
    programme_id: uuid.UUID
    centre_id: uuid.UUID
    centre_name: str
    title: str
    region: str
    job_family: str
    duration_months: int
    sessions: list[Session]
    # Dated changes of delivery mode: (first day, mode).
    mode_changes: list[tuple[date, str]] = field(default_factory=list)
    # What a funder breaks the figures down by (issue 17).
    funding_line: str = "gen_label"
    departement: str | None = None
    rncp: str | None = None
    label_year: int | None = None

    @property
    def start_date(self) -> date:
        return self.sessions[0].start_date

    @property
    def capacity(self) -> int:
        return self.sessions[0].capacity


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
class Training:
    """One enrolment's training: an admission's, or the one a transfer continues in."""

    programme: int
    facts: list[Fact] = field(default_factory=list)
    started_at: datetime | None = None
    exited_at: datetime | None = None
    exit_reason: str | None = None
    outcome: Outcome | None = None
    wrong_outcome: Outcome | None = None  # recorded first, then corrected to `outcome`
    exempt: str | None = None  # out of scope of the follow-up (left the country, ...)
    closing: str | None = None  # no answer: closed "unreachable", or "refused" at a contact attempt
    continued: Training | None = None  # where a transfer continues
    is_continuation: bool = False
    # Whether the centre names the enrolment (the application) in its facts; it must when the
    # learner has several admissions in the programme.
    names_enrolment: bool = False


@dataclass
class Person:
    index: int
    candidate: dict


@dataclass
class Application:
    index: int
    programme: int
    session: int
    person: int
    submitted_at: datetime
    decision: str
    decided_at: datetime
    reason: str | None = None
    no_show_at: datetime | None = None  # admitted, never came: a no_show decision
    promoted_at: datetime | None = None  # waitlisted, admitted by intake when a place freed
    training: Training | None = None
    withdraw_attempt_at: datetime | None = None  # a withdrawal after the start, which intake refuses
    cases: set[str] = field(default_factory=set)
    referral_source: str | None = None  # who referred the candidate (None: the application does not say)

    @property
    def final_decision(self) -> str:
        return "admitted" if self.promoted_at else self.decision

    @property
    def final_decided_at(self) -> datetime:
        return self.promoted_at or self.decided_at

    @property
    def admitted(self) -> bool:
        return self.final_decision == "admitted"


@dataclass
class World:
    year: int
    scale: float
    seed: int
    today: date
    programmes: list[Programme]
    people: list[Person]
    applications: list[Application]

    def trainings(self):
        """(application, training) of every enrolment trained, continuations after a transfer included."""
        for app in self.applications:
            training = app.training
            while training is not None:
                yield app, training
                training = training.continued


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def generate(year: int, scale: float, seed: int, today: date | None = None) -> World:
    today = today or date.today()
    rng = random.Random(f"{year}:{scale}:{seed}")
    programmes = _programmes(rng, year, scale)
    people: list[Person] = []
    # A person's e-mail (her identity at intake) names the world's year and seed: two worlds
    # simulated on the same services hold different people.
    applications = _applications(rng, programmes, people, f"{year}.{seed}", today)
    _decide(rng, programmes, applications, people)
    _journeys(rng, programmes, applications, people, today)
    applications.sort(key=lambda a: (a.submitted_at, a.index))
    # Drawn from a generator of their own, in the applications' order, so that the journeys of a
    # seed stay what they were before referrals were generated.
    referrals = random.Random(f"{year}:{scale}:{seed}:referrals")
    for app in applications:
        app.referral_source = pick(referrals, REFERRALS)
    return World(year, scale, seed, today, programmes, people, applications)


def _programmes(rng: random.Random, year: int, scale: float) -> list[Programme]:
    period_start = date(year - 1, PERIOD_STARTS_IN_MONTH, 1)
    period_days = (date(year, 12, 31) - period_start).days
    n_programmes = max(4, round(PROGRAMMES * scale))
    n_centres = max(2, n_programmes // 2)
    centres = [(_uuid(rng), f"Centre {i + 1}", rng.choices(REGIONS, REGION_WEIGHTS)[0]) for i in range(n_centres)]
    programmes = []
    for i in range(n_programmes):
        centre_id, centre_name, region = rng.choice(centres)
        starts = sorted(period_start + timedelta(days=rng.randrange(period_days))
                        for _ in range(int(pick(rng, SESSIONS_PER_PROGRAMME))))
        sessions = [Session(_uuid(rng), start, rng.randint(16, 40), first=k == 0) for k, start in enumerate(starts)]
        programmes.append(Programme(
            programme_id=_uuid(rng), centre_id=centre_id, centre_name=centre_name,
            title=f"Programme {i + 1}", region=region, job_family=pick(rng, JOB_FAMILIES),
            duration_months=int(pick(rng, DURATIONS)), sessions=sessions,
        ))
        _attributes(programmes[-1], year)
        if rng.random() < MODE_CHANGED:
            away = date(year, 3, 14) + timedelta(days=rng.randrange(60))
            programmes[-1].mode_changes.append((away, rng.choice(("remote", "remote", "hybrid"))))
            if rng.random() < MODE_BACK:
                programmes[-1].mode_changes.append((away + timedelta(days=60 + rng.randrange(150)), "in_person"))
    return programmes


def _attributes(programme: Programme, year: int) -> None:
    """The funder's attributes, from a generator of the programme's own (the world's other draws,
    and so every journey of a seed, stay what they were)."""
    rng = random.Random(programme.programme_id.int)
    programme.funding_line = pick(rng, FUNDING[min(max(year, 2020), 2021)])
    programme.departement = rng.choice(sorted(d for d, r in REGION_OF_DEPARTEMENT.items() if r == programme.region))
    programme.rncp = pick(rng, CERTIFICATIONS)
    programme.label_year = rng.randint(FIRST_LABEL_YEAR, year)


def _applications(rng: random.Random, programmes: list[Programme], people: list[Person], world_tag: str,
                  today: date) -> list[Application]:
    """Applications to every session; a person applies to about 1.5 programmes over a few months."""
    planned = []
    for p_index, programme in enumerate(programmes):
        for s_index, session in enumerate(programme.sessions):
            for _ in range(max(3, round(rng.gauss(APPLICATIONS_PER_SESSION, 25)))):
                submitted = at(session.start_date - timedelta(days=rng.randint(10, 120)), rng.randint(7, 21),
                               rng.randint(0, 59))
                if submitted.date() <= today:
                    planned.append((submitted, p_index, s_index))
    planned.sort(key=lambda item: (item[0], item[1], item[2]))
    # People who may apply again within 90 days of their first application: [index, applications
    # left, until when, programmes applied to], oldest first (so expired ones leave from the front).
    returning: deque[list] = deque()
    applications = []
    for submitted, p_index, s_index in planned:
        while returning and (returning[0][2] < submitted or returning[0][1] == 0):
            returning.popleft()
        slot = None
        if returning and rng.random() < 1 - 1 / APPLICATIONS_PER_PERSON:
            for _ in range(4):
                tried = returning[rng.randrange(len(returning))]
                if tried[1] > 0 and p_index not in tried[3]:
                    slot = tried
                    break
        if slot is not None:
            person = people[slot[0]]
            slot[1] -= 1
            slot[3].add(p_index)
        else:
            person = Person(len(people), _candidate(rng, len(people), world_tag, programmes[p_index], submitted))
            people.append(person)
            returning.append([person.index, 2, submitted + timedelta(days=90), {p_index}])
        applications.append(Application(len(applications), p_index, s_index, person.index, submitted, "submitted",
                                        submitted))
    return applications


def _decide(rng: random.Random, programmes: list[Programme], applications: list[Application],
            people: list[Person]) -> None:
    """Each session admits up to its capacity (a place or two kept for later admissions), waitlists,
    rejects; the decisions of a session are dated apart, so that its waitlist has one order."""
    applied = {}
    for app in applications:
        applied.setdefault(app.person, []).append(app)
    by_session: dict[tuple, list[Application]] = {}
    for app in applications:
        by_session.setdefault((app.programme, app.session), []).append(app)
    for (p_index, s_index), apps in by_session.items():
        session = programmes[p_index].sessions[s_index]
        admit = min(session.capacity - KEPT_PLACES, round(len(apps) * rng.uniform(*ADMISSION_SHARE)))
        chosen = set(rng.sample(range(len(apps)), admit))
        for k, app in enumerate(apps):
            decided_day = min(app.submitted_at.date() + timedelta(days=rng.randint(1, 40)),
                              session.start_date - timedelta(days=1))
            # k microseconds apart: no two decisions of a session at the same instant.
            decided = max(at(decided_day, rng.randint(8, 18), rng.randint(0, 59)),
                          app.submitted_at + timedelta(hours=1)) + timedelta(microseconds=k)
            if k in chosen:
                decision, reason = "admitted", None
            else:
                decision = pick(rng, (("rejected", 62), ("waitlisted", 20), ("withdrawn", 18)))
                # A waitlist is left to people with this one application, so that a promotion
                # never meets another of the person's admissions.
                if decision == "waitlisted" and len(applied[app.person]) > 1:
                    decision = "rejected"
                reason = rng.choice(("incomplete_file", "profile_mismatch", "not_eligible")) \
                    if decision == "rejected" else None
            app.decision, app.decided_at, app.reason = decision, decided, reason


def _journeys(rng: random.Random, programmes: list[Programme], applications: list[Application],
              people: list[Person], today: date) -> None:
    """Who trains: each person starts her first admission; another whose session starts before she
    leaves is a no-show, and so are 5 % of the others. A no-show's place goes to the session's first
    waitlisted candidate, who trains too. Some who dropped out or failed are admitted again to a
    later session of the programme."""
    admitted_in = {}
    applications_of: dict[int, list[Application]] = {}
    for app in applications:
        applications_of.setdefault(app.person, []).append(app)
    waitlists: dict[tuple, list[Application]] = {}
    for app in sorted(applications, key=lambda a: (a.decided_at, a.index)):
        if app.decision == "admitted":
            admitted_in.setdefault(app.person, []).append(app)
        elif app.decision == "waitlisted":
            waitlists.setdefault((app.programme, app.session), []).append(app)
    admissions = {(a.programme, a.session): 0 for a in applications}
    for app in applications:
        admissions[(app.programme, app.session)] += app.decision == "admitted"
    # Admissions in the order their sessions start.
    queue = [(_session(programmes, a).start_date, a.index, a) for apps in admitted_in.values() for a in apps]
    heapq.heapify(queue)
    busy_until: dict[int, datetime] = {}  # person -> the end of her current training
    while queue:
        app = heapq.heappop(queue)[2]
        session = _session(programmes, app)
        came = at(session.start_date + timedelta(days=3), 10)
        person_busy = busy_until.get(app.person)
        if person_busy is not None and at(session.start_date, 9) <= person_busy:
            if came.date() < today:
                app.no_show_at = came
                app.cases.add("two_admissions_one_start")
                _promote(programmes, waitlists, app, queue)
            continue
        if rng.random() < NO_SHOW and not app.promoted_at:
            if came.date() < today:
                app.no_show_at = came
                app.cases.add("no_show")
                _promote(programmes, waitlists, app, queue)
            continue
        begin = at(session.start_date + timedelta(days=rng.randint(0, 3)), 9)
        if app.promoted_at:
            begin = max(begin, at(app.promoted_at.date() + timedelta(days=2), 9))
        applied_to = {a.programme for a in applications_of.get(app.person, [])}
        app.training = _train(rng, app, programmes, app.programme, begin, today, avoid=applied_to)
        if app.training is None:
            continue
        last = app.training
        while last.continued is not None:
            last = last.continued
        busy_until[app.person] = last.exited_at or datetime.max.replace(tzinfo=PARIS)
        if last.exited_at and rng.random() < DECISION_AFTER_START and not app.training.is_continuation:
            attempt = app.training.started_at + timedelta(days=10)
            if attempt.date() < today and attempt < last.exited_at:
                app.withdraw_attempt_at = attempt
                app.cases.add("decision_after_start_refused")
        again = _readmission(rng, programmes, applications, admissions, app, today)
        if again is not None:
            admitted_in.setdefault(app.person, []).append(again)
            heapq.heappush(queue, (_session(programmes, again).start_date, again.index, again))
    # A centre must name the enrolment when the learner has several admissions in the programme
    # (promotions from a waitlist and re-admissions included); half of the others name it too.
    every_admission: dict[int, list[Application]] = {}
    for app in applications:
        if app.admitted:
            every_admission.setdefault(app.person, []).append(app)
    for person_admissions in every_admission.values():
        for app in person_admissions:
            if app.training is not None:
                several = sum(a.programme == app.programme for a in person_admissions) > 1
                app.training.names_enrolment = several or rng.random() < 0.5


def _session(programmes: list[Programme], app: Application) -> Session:
    return programmes[app.programme].sessions[app.session]


def _promote(programmes, waitlists: dict, app: Application, queue: list) -> None:
    """Intake admits the session's first waitlisted candidate to the place a no-show frees, at the
    later of the two moments (never before she was waitlisted)."""
    waiting = waitlists.get((app.programme, app.session))
    if not waiting:
        return
    head = waiting.pop(0)
    head.promoted_at = max(app.no_show_at, head.decided_at)
    head.cases.add("waitlisted_admitted")
    heapq.heappush(queue, (_session(programmes, head).start_date, head.index, head))


def _readmission(rng, programmes, applications, admissions, app: Application, today: date) -> Application | None:
    """After a drop-out or a failed certification, some apply to a later session of the same
    programme and are admitted (where a place is left)."""
    training = app.training
    if training.exit_reason not in READMITTED or rng.random() >= READMITTED[training.exit_reason]:
        return None
    programme = programmes[app.programme]
    for s_index, session in enumerate(programme.sessions):
        submitted = training.exited_at + timedelta(days=5)
        decided = submitted + timedelta(days=2)
        if decided.date() >= session.start_date or session.start_date >= today:
            continue
        if admissions[(app.programme, s_index)] >= session.capacity:
            continue
        admissions[(app.programme, s_index)] += 1
        again = Application(len(applications), app.programme, s_index, app.person, submitted, "admitted", decided)
        again.cases.add("readmitted_after_dropout" if training.exit_reason == "dropped_out"
                        else "retake_after_failed_certification")
        applications.append(again)
        return again
    return None


def _candidate(rng: random.Random, index: int, world_tag: str, programme: Programme, submitted: datetime) -> dict:
    band = pick(rng, (("under_26", 45), ("26_44", 45), ("45_plus", 10)))
    age = {"under_26": rng.randint(18, 25), "26_44": rng.randint(26, 44), "45_plus": rng.randint(45, 60)}[band]
    return {
        "first_name": rng.choice(FIRST_NAMES), "last_name": rng.choice(LAST_NAMES),
        "email": f"candidate{index}.s{world_tag}@example.org",
        "phone": f"06 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        "birth_year": submitted.year - age,
        "gender": pick(rng, GENDER), "education_level": pick(rng, EDUCATION),
        "qpv": rng.random() < 0.20, "zrr": rng.random() < 0.06, "job_seeker": rng.random() < 0.65,
        "region": programme.region if rng.random() < 0.9 else rng.choices(REGIONS, REGION_WEIGHTS)[0],
    }


def _train(rng: random.Random, app: Application, programmes: list[Programme], p_index: int, start: datetime,
           today: date, months: int | None = None, continuation: bool = False,
           avoid: frozenset | set = frozenset()) -> Training | None:
    """One enrolment's training: facts in date order, the exit, and the six-month follow-up. A
    transfer continues in another programme, in a training of its own."""
    if start.date() >= today:
        return None
    programme = programmes[p_index]
    training = Training(p_index, is_continuation=continuation)
    end = at(add_months(start.date(), months or programme.duration_months), 17)
    reason = pick(rng, EXIT_REASONS if not continuation else [r for r in EXIT_REASONS if r[0] != "transferred"])
    if reason in ("dropped_out", "excluded", "transferred"):
        span = max(1, (end - start).days - 14)
        exit_at = at((start + timedelta(days=7 + rng.randrange(span))).date(), 16)
    else:
        exit_at = end
    exit_at = _near_midnight(rng, app, exit_at, today)
    facts = [] if continuation else [Fact(_uuid(rng), "started", start)]
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
    training.started_at = start
    if exit_at.date() >= today:
        training.facts = [f for f in facts if f.occurred_at.date() < today]
        return training
    extra = {"exit_reason": reason}
    if reason == "dropped_out":
        extra["dropout_cause"] = rng.choice(DROPOUT_CAUSES)
    destination = None
    # A transfer continues in a programme the person never applied to (so that her facts there
    # belong to that one enrolment).
    elsewhere = [i for i in range(len(programmes)) if i != p_index and i not in avoid]
    if reason == "transferred" and elsewhere and rng.random() < TRANSFER_CONTINUES:
        destination = rng.choice(elsewhere)
        extra["transfer_to_programme_id"] = str(programmes[destination].programme_id)
    facts = [f for f in facts if f.occurred_at <= exit_at]
    exit_fact = Fact(_uuid(rng), "exited", exit_at, extra)
    facts.append(exit_fact)
    _mistakes(rng, facts, exit_fact, today)
    training.facts, training.exited_at, training.exit_reason = facts, exit_at, reason
    if destination is not None:
        app.cases.add("transfer_continued")
        training.continued = _train(rng, app, programmes, destination, exit_at, today,
                                    max(2, programmes[destination].duration_months // 2), continuation=True)
        return training
    _followup(rng, app, training, today)
    return training


def _followup(rng: random.Random, app: Application, training: Training, today: date) -> None:
    observation = add_months(training.exited_at.date(), 6)
    if training.exit_reason == "transferred" or observation > today:
        return
    if rng.random() < 0.015:
        training.exempt = rng.choice(("left_country", "long_term_illness", "deceased"))
        return
    if rng.random() >= RESPONSE_RATE:
        draw = rng.random()
        if draw < UNREACHABLE:
            training.closing = "unreachable"
            app.cases.add("contact_unreachable")
        elif draw < UNREACHABLE + REFUSED:
            training.closing = "refused"
            app.cases.add("contact_refused")
        return
    group = pick(rng, SITUATION_GROUPS)
    if group in ("digital_job", "other_job"):
        training.outcome = Outcome(pick(rng, EMPLOYMENT_SPLIT), group == "digital_job", observation)
    else:
        training.outcome = Outcome(group, False, observation)
    also = ALSO_TRUE.get("employment" if group in ("digital_job", "other_job") else group)
    if also and rng.random() < SEVERAL_SITUATIONS:
        training.outcome.also = (also,)
        app.cases.add("several_situations")
    if rng.random() < OUTCOME_CORRECTED:
        wrong = "inactive" if training.outcome.situation != "inactive" else "job_seeker"
        training.wrong_outcome = Outcome(wrong, False, observation)
        app.cases.add("outcome_corrected")


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
    # A transfer to another programme is posted right: an amendment cannot add its destination.
    if rng.random() < 0.03 and "transfer_to_programme_id" not in exit_fact.extra:
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
