"""Outcomes's unit of work for follow-up work: what recording outcomes, attempts, closings and
assignments read and write, inside one transaction.

`PgUnit` works on asyncpg through `store`, in the caller's transaction; `tests/unit/fakes.py`
keeps the same in dicts, so the rules of each use case run in fast tests without a database.
A follow-up's status is always the one a person sees on `today` (domain.followup_status).
"""

from __future__ import annotations

from datetime import date
from typing import Protocol
from uuid import UUID

import asyncpg

from services.outcomes import store
from shared.contracts import Envelope
from shared.plumbing.outbox import add_events


class Unit(Protocol):
    async def followup(self, followup_id: UUID, today: date) -> dict | None:
        """The follow-up, locked: followup_id, learner_id, programme_id, exit_date, status as of today."""

    async def view(self, followup_id: UUID, today: date) -> dict | None:
        """The follow-up as the worklist shows it (store.FOLLOWUP_VIEW's columns)."""

    async def history(self, followup_id: UUID) -> tuple[list[dict], list[dict]]:
        """Its contact attempts and outcome versions, oldest first."""

    async def followups_of(self, learner_id: UUID, programme_id: UUID) -> list[UUID]:
        """A learner's follow-ups in a programme, latest exit first."""

    async def followup_of_enrolment(self, enrolment_id: UUID) -> UUID | None: ...

    async def add_outcome(self, followup: dict, event_id: UUID, body, late: bool, corrects: UUID | None) -> None:
        """An outcome version; the follow-up becomes recorded."""

    async def latest_outcome(self, followup_id: UUID) -> UUID | None: ...

    async def add_attempt(self, followup: dict, body, status: str) -> None:
        """A contact attempt, counted, and the follow-up's stored status after it."""

    async def set_status(self, followup_id: UUID, status: str, reason: str | None) -> None: ...

    async def assign(self, followup_id: UUID, staff: str | None) -> None: ...

    async def add_events(self, events: list[Envelope]) -> None:
        """Events to publish once the unit commits (the outbox)."""


class PgUnit:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def followup(self, followup_id, today):
        return await store.lock_followup(self.conn, today, followup_id)

    async def view(self, followup_id, today):
        return await store.get_followup(self.conn, today, followup_id)

    async def history(self, followup_id):
        return await store.attempts(self.conn, followup_id), await store.outcome_history(self.conn, followup_id)

    async def followups_of(self, learner_id, programme_id):
        return await store.followups_of(self.conn, learner_id, programme_id)

    async def followup_of_enrolment(self, enrolment_id):
        return await store.followup_of_enrolment(self.conn, enrolment_id)

    async def add_outcome(self, followup, event_id, body, late, corrects):
        await store.insert_outcome(self.conn, followup["followup_id"], event_id, followup["learner_id"],
                                   followup["programme_id"], body, late, corrects, body.staff)

    async def latest_outcome(self, followup_id):
        return await store.latest_outcome_event(self.conn, followup_id)

    async def add_attempt(self, followup, body, status):
        await store.insert_attempt(self.conn, followup["followup_id"], followup["learner_id"],
                                   followup["programme_id"], body, body.staff, status)

    async def set_status(self, followup_id, status, reason):
        await store.set_followup_status(self.conn, followup_id, status, reason)

    async def assign(self, followup_id, staff):
        await store.assign(self.conn, followup_id, staff)

    async def add_events(self, events):
        await add_events(self.conn, events)
