"""A session's places and waitlist, and the decisions that take and free them.

Pure: the aggregate is loaded with the sessions and applications a batch of decisions touches
(`unit.PgUnit.admissions`), decides each in memory in order, and records what to write; the
service saves it and maps its decisions to `application.decided` events.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.intake import domain
from shared.refusals import Invalid, Missing

# Who admits a waitlisted candidate when a place frees up.
WAITLIST_ACTOR = "waitlist"


class UnknownApplication(domain.DomainError, Missing):
    code = "not_found"


class DecisionBeforeSubmission(domain.DomainError, Invalid):
    code = "decided_before_submission"
    field = "decided_at"


class Admissions:
    """The sessions a batch of decisions touches, with their places and waitlists, and the
    applications, as the decisions before each one left them; and what the batch has to write:
    the applications changed, their transitions, and the decisions to publish.

    An application is never changed in place: a new dict replaces it, so that each outcome keeps
    the application as its decision left it.
    """

    def __init__(self, sessions: dict, admitted: dict, applications: dict) -> None:
        self.sessions = sessions
        self.admitted = admitted
        self.applications = applications
        # session_id -> the ids of its waitlisted applications; only for the sessions where a
        # place may be freed.
        self.waiting: dict[uuid.UUID, set[uuid.UUID]] = {}
        self.changed: dict[uuid.UUID, dict] = {}
        self.transitions: list[tuple] = []
        self.decided: list[tuple[dict, str | None]] = []  # (application, age band at entry) to publish
        self.birth_years: dict[uuid.UUID, int] = {}

    def add_waitlists(self, session_ids: list, waitlisted: list[dict]) -> None:
        self.waiting |= {session_id: set() for session_id in session_ids}
        for application in waitlisted:
            # One of the batch is already here, locked: the same row.
            self.applications.setdefault(application["application_id"], application)
            self.waiting[application["session_id"]].add(application["application_id"])

    def decide(self, application_id: uuid.UUID, decision: str, reason: str | None, decided_at: datetime,
               actor: str) -> dict:
        """One decision, as if posted alone after the earlier ones: the application as it leaves it,
        whether it changed anything, and the waitlisted application it admitted, if any."""
        application = self.applications.get(application_id)
        if application is None:
            raise UnknownApplication(f"application {application_id} does not exist")
        if decided_at < application["submitted_at"]:
            raise DecisionBeforeSubmission("decided_at is before the application was submitted")
        session_id = application["session_id"]
        outcome = domain.decide(application["status"], decision, reason, self.admitted[session_id],
                                self.sessions[session_id]["capacity"], application.get("started_at"))
        if outcome.status is None:
            return {"application": application, "changed": False, "promoted": None}
        application = self._set_status(application, outcome.status, reason, decided_at, actor)
        promoted = self._promote_first_waitlisted(session_id, decided_at) if outcome.frees_place else None
        return {"application": application, "changed": True, "promoted": promoted}

    def _promote_first_waitlisted(self, session_id: uuid.UUID, freed_at: datetime) -> uuid.UUID | None:
        waiting = self.waiting[session_id]
        if not waiting:
            return None
        head = min((self.applications[key] for key in waiting), key=_waitlist_position)
        at = domain.promotion(freed_at, head["decided_at"], self.admitted[session_id],
                              self.sessions[session_id]["capacity"])
        if at is None:
            return None
        self._set_status(head, "admitted", None, at, WAITLIST_ACTOR)
        return head["application_id"]

    def _set_status(self, application: dict, status: str, reason, decided_at: datetime, actor: str) -> dict:
        after = application | {"status": status, "reason": reason, "decided_at": decided_at}
        key, session_id = after["application_id"], after["session_id"]
        self.applications[key] = self.changed[key] = after
        if application["status"] == "admitted":
            self.admitted[session_id] -= 1
        if status == "admitted":
            self.admitted[session_id] += 1
        if session_id in self.waiting:
            if status == "waitlisted":
                self.waiting[session_id].add(key)
            else:
                self.waiting[session_id].discard(key)
        self.transitions.append((key, status, reason, decided_at, actor))
        if status in domain.PUBLISHED:  # screening stays inside intake
            self.decided.append((after, self._age_band_at_entry(after)))
        return after

    def _age_band_at_entry(self, application: dict) -> str | None:
        """An admission carries the age band at the session's start, which the indicators count."""
        birth_year = self.birth_years.get(application["learner_id"])
        if application["status"] != "admitted" or birth_year is None:
            return None
        return domain.age_band(birth_year, self.sessions[application["session_id"]]["start_date"].year)


def _waitlist_position(application: dict) -> tuple:
    """A session's waitlist order: the earliest waitlisted first (decided_at is the waitlisting time
    while the status is waitlisted), ties in the order the applications were recorded, then by id
    (UUIDs compare in Python as in PostgreSQL)."""
    return application["decided_at"], application["recorded_at"], application["application_id"]
