"""Intake's unit of work for decisions: the sessions and applications a batch of decisions touches,
loaded and locked as one aggregate (`admission.Admissions`), and what it decided, saved in sets.

`PgUnit` works on asyncpg through `store` and `store_catalogue`, in the caller's transaction;
`tests/unit/fakes.py` keeps the same in dicts, so a batch of decisions runs in fast tests.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

import asyncpg

from services.intake import store
from services.intake import store_catalogue as catalogue
from services.intake.admission import Admissions
from shared.contracts import Envelope
from shared.plumbing.outbox import add_events


class Unit(Protocol):
    async def admissions(self, application_ids: list[UUID], may_free: set[UUID]) -> Admissions:
        """The sessions of these applications with their admitted counts, locked, then the applications,
        locked; the waitlists of the sessions of `may_free` (applications whose decision may free a
        place); and the learners' birth years."""

    async def save(self, admissions: Admissions) -> None:
        """The applications changed and their transitions."""

    async def add_events(self, events: list[Envelope]) -> None:
        """Events to publish once the unit commits (the outbox)."""


class PgUnit:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def admissions(self, application_ids, may_free):
        conn = self.conn
        application_ids = sorted(application_ids)
        # The sessions first, then the applications: every decision takes the locks in this order, so
        # that two admissions cannot both take a session's last place, nor two batches deadlock.
        sessions = await catalogue.lock_sessions_of(conn, application_ids)
        applications = await store.lock_applications(conn, application_ids)
        # One committed between the two statements has no session locked: it was not there when the
        # batch began, and is unknown to it.
        applications = {key: a for key, a in applications.items() if a["session_id"] in sessions}
        # Counted once the sessions are locked, so as to see the admissions committed while waiting.
        admitted = await store.admitted_counts(conn, list(sessions))
        freeing = sorted({applications[key]["session_id"] for key in may_free if key in applications})
        batch = Admissions(sessions, {s: admitted.get(s, 0) for s in sessions}, applications)
        batch.add_waitlists(freeing, await store.waitlisted(conn, freeing))
        batch.birth_years = await store.birth_years(conn, sorted({a["learner_id"]
                                                                  for a in batch.applications.values()}))
        return batch

    async def save(self, admissions):
        await store.update_statuses(self.conn, list(admissions.changed.values()))
        await store.record_transitions(self.conn, admissions.transitions)

    async def add_events(self, events):
        await add_events(self.conn, events)
