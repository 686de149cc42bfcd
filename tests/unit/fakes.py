"""In-memory fakes of the services' units of work: the rules of a whole use case, run without a database.

Each fake keeps what its real unit keeps (PostgreSQL rows) in dicts and lists, answering the
unit's questions the same way; `tests/integration` holds the real units to the same behaviour.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from services.intake import admission as intake_admission
from services.outcomes import domain as outcomes_domain
from services.progress import service as progress_service
from services.progress.domain import Enrolment
from services.progress.store import Identity


class FakeProgressUnit:
    """progress.unit.Unit in memory; `admit` opens an enrolment as the decisions consumer does."""

    def __init__(self) -> None:
        self.identities: dict[UUID, Identity] = {}
        self.enrolments: dict[UUID, Enrolment] = {}
        self.facts: list[dict] = []  # rows as stored, in arrival order
        self.corrections: dict[UUID, dict] = {}
        self.events: list = []
        self.known_programmes: set[UUID] = set()

    def admit(self, learner_id: UUID, programme_id: UUID, application_id: UUID | None = None) -> UUID:
        application_id = application_id or uuid.uuid4()
        self.identities[application_id] = Identity(application_id, learner_id, programme_id, application_id)
        self.enrolments[application_id] = Enrolment("admitted")
        self.known_programmes.add(programme_id)
        return application_id

    async def get_many(self, pairs):
        wanted = set(pairs)
        return {key: (identity, self.enrolments[key]) for key, identity in self.identities.items()
                if (identity.learner_id, identity.programme_id) in wanted}

    async def learners_of(self, ids):
        named = {}
        for key, identity in self.identities.items():
            for alias in (key, identity.application_id):
                if alias in ids:
                    named[alias] = identity.learner_id
        return named

    async def histories(self, enrolment_ids):
        return {key: [progress_service._as_fact(f["fact_type"], f["occurred_at"], f["data"])
                      for f in await self.active_facts(key)] for key in enrolment_ids}

    async def known_facts(self, event_ids):
        wanted = set(event_ids)
        return {f["event_id"]: (f["body_hash"], f["enrolment_id"]) for f in self.facts if f["event_id"] in wanted}

    async def programmes(self, programme_ids):
        return set(programme_ids) & self.known_programmes

    async def save_many(self, opened: list[tuple[Identity, Enrolment, datetime]], changed: dict[UUID, Enrolment]):
        for identity, enrolment, _ in opened:
            self.identities.setdefault(identity.enrolment_id, identity)
            self.enrolments.setdefault(identity.enrolment_id, enrolment)
        missing = changed.keys() - self.enrolments.keys()
        assert not missing, f"saved enrolments that were never opened: {missing}"
        self.enrolments.update(changed)

    async def add_facts(self, rows):
        columns = ("event_id", "enrolment_id", "learner_id", "programme_id", "fact_type", "occurred_at", "data",
                   "body_hash")
        self.facts.extend({**dict(zip(columns, row, strict=True)), "voided_at": None} for row in rows)

    async def add_events(self, events):
        self.events.extend(events)

    async def get_correction(self, correction_id):
        return self.corrections.get(correction_id)

    async def get_fact(self, event_id):
        return next((dict(f) for f in self.facts if f["event_id"] == event_id), None)

    async def get_one(self, enrolment_id):
        if enrolment_id not in self.enrolments:
            return None
        return self.identities[enrolment_id], self.enrolments[enrolment_id]

    async def active_facts(self, enrolment_id):
        mine = [f for f in self.facts if f["enrolment_id"] == enrolment_id and f["voided_at"] is None]
        return sorted(mine, key=lambda f: f["occurred_at"])  # stable: same instant, arrival order

    async def correct(self, event_id, occurred_at, data):
        [fact] = [f for f in self.facts if f["event_id"] == event_id]
        if data is None:
            fact["voided_at"] = datetime.now(UTC)
        else:
            fact.update(occurred_at=occurred_at, data=data)

    async def add_correction(self, correction_id, event_id, action, body_hash, before, after, result):
        self.corrections[correction_id] = {"body_hash": body_hash, "result": result, "event_id": event_id,
                                           "before": before, "after": after}


class FakeOutcomesUnit:
    """outcomes.unit.Unit in memory; `exit` opens a follow-up as the projection does at an exit."""

    def __init__(self) -> None:
        self.followups: dict[UUID, dict] = {}
        self.outcomes: list[dict] = []
        self.attempts: list[dict] = []
        self.events: list = []

    def exit(self, learner_id: UUID, programme_id: UUID, exit_date, reason: str = "certified") -> UUID:
        dates = outcomes_domain.followup_dates(exit_date, 1, 2)
        followup_id = uuid.uuid4()
        self.followups[followup_id] = {
            "followup_id": followup_id, "enrolment_id": uuid.uuid4(), "learner_id": learner_id,
            "programme_id": programme_id, "exit_date": exit_date, "exit_reason": reason,
            "observation_date": dates.observation_date, "window_start": dates.window_start,
            "window_end": dates.window_end,
            "stored": "scheduled", "attempts": 0, "assigned_to": None, "closed_reason": None}
        return followup_id

    def _seen(self, followup_id, today) -> dict | None:
        row = self.followups.get(followup_id)
        if row is None:
            return None
        status = outcomes_domain.followup_status(row["stored"], today, row["window_start"], row["window_end"])
        return {k: v for k, v in row.items() if k != "stored"} | {"status": status}

    async def followup(self, followup_id, today):
        return self._seen(followup_id, today)

    async def view(self, followup_id, today):
        return self._seen(followup_id, today)

    async def history(self, followup_id):
        return ([a for a in self.attempts if a["followup_id"] == followup_id],
                [o for o in self.outcomes if o["followup_id"] == followup_id])

    async def followups_of(self, learner_id, programme_id):
        mine = [f for f in self.followups.values()
                if (f["learner_id"], f["programme_id"]) == (learner_id, programme_id)]
        return [f["followup_id"] for f in sorted(mine, key=lambda f: f["exit_date"], reverse=True)]

    async def followup_of_enrolment(self, enrolment_id):
        return next((f["followup_id"] for f in self.followups.values() if f["enrolment_id"] == enrolment_id), None)

    async def add_outcome(self, followup, event_id, body, late, corrects):
        self.outcomes.append({"followup_id": followup["followup_id"], "event_id": event_id, "situation": body.situation,
                              "late": late, "corrects_event_id": corrects})
        self.followups[followup["followup_id"]] |= {"stored": "recorded", "closed_reason": None}

    async def latest_outcome(self, followup_id):
        mine = [o["event_id"] for o in self.outcomes if o["followup_id"] == followup_id]
        return mine[-1] if mine else None

    async def add_attempt(self, followup, body, status):
        self.attempts.append({"followup_id": followup["followup_id"], "result": body.result})
        row = self.followups[followup["followup_id"]]
        row |= {"stored": status, "attempts": row["attempts"] + 1}

    async def set_status(self, followup_id, status, reason):
        self.followups[followup_id] |= {"stored": status, "closed_reason": reason}

    async def assign(self, followup_id, staff):
        self.followups[followup_id]["assigned_to"] = staff

    async def add_events(self, events):
        self.events.extend(events)


class FakeIntakeUnit:
    """intake.unit.Unit in memory: sessions (capacity, start date), applications and birth years."""

    def __init__(self) -> None:
        self.sessions: dict[UUID, dict] = {}
        self.applications: dict[UUID, dict] = {}
        self.birth_years: dict[UUID, int] = {}
        self.transitions: list[tuple] = []
        self.events: list = []

    async def admissions(self, application_ids, may_free):
        applications = {key: dict(self.applications[key]) for key in application_ids if key in self.applications}
        sessions = {a["session_id"]: self.sessions[a["session_id"]] for a in applications.values()}
        admitted = {s: sum(1 for a in self.applications.values() if a["session_id"] == s and a["status"] == "admitted")
                    for s in sessions}
        freeing = sorted({applications[key]["session_id"] for key in may_free if key in applications})
        batch = intake_admission.Admissions(sessions, admitted, applications)
        batch.add_waitlists(freeing, [dict(a) for a in self.applications.values()
                                      if a["session_id"] in freeing and a["status"] == "waitlisted"])
        batch.birth_years = dict(self.birth_years)
        return batch

    async def save(self, admissions):
        for key, application in admissions.changed.items():
            self.applications[key] = dict(application)
        self.transitions.extend(admissions.transitions)

    async def add_events(self, events):
        self.events.extend(events)
