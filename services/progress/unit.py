"""Progress's unit of work: what posting facts reads and writes, in sets, inside one transaction.

A use case asks the unit for every enrolment its facts may touch at once (`get_many`, locked),
decides in memory, and hands back what changed in a few calls (`save_many`, `add_facts`,
`add_events`), so that a batch of a thousand facts costs a handful of statements. `PgUnit` does
it on asyncpg through `store`, in the caller's transaction; `tests/unit/fakes.py` keeps the
same in dicts, so the rules of a whole use case run in fast tests without a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol
from uuid import UUID

import asyncpg

from services.progress import store
from services.progress.domain import Enrolment, Fact
from services.progress.store import Identity
from shared.contracts import Envelope
from shared.plumbing.outbox import add_events


class Unit(Protocol):
    async def get_many(self, pairs: Iterable[tuple[UUID, UUID]]) -> dict[UUID, tuple[Identity, Enrolment]]:
        """Every enrolment of these (learner, programme) pairs, locked until the end of the unit."""

    async def learners_of(self, ids: list[UUID]) -> dict[UUID, UUID]:
        """enrolment or application id -> learner_id, for those that name an enrolment."""

    async def histories(self, enrolment_ids: list[UUID]) -> dict[UUID, list[Fact]]:
        """Each enrolment's active facts in date order (an empty list when it has none)."""

    async def known_facts(self, event_ids: list[UUID]) -> dict[UUID, tuple[str, UUID]]:
        """event_id -> (body hash, enrolment) of the facts among these already stored."""

    async def programmes(self, programme_ids: list[UUID]) -> set[UUID]:
        """Those of these programmes the network has."""

    async def save_many(self, opened: list[tuple[Identity, Enrolment, datetime]],
                        changed: dict[UUID, Enrolment]) -> None:
        """New enrolments (identity, state, opened at) and the new state of existing ones."""

    async def add_facts(self, rows: list[tuple]) -> None:
        """Facts as stored: (event_id, enrolment_id, learner_id, programme_id, type, occurred_at, data, hash)."""

    async def add_events(self, events: list[Envelope]) -> None:
        """Events to publish once the unit commits (the outbox)."""

    # Corrections: one fact and its enrolment at a time.
    async def get_correction(self, correction_id: UUID) -> dict | None:
        """A correction already made with this id: its body hash and result."""

    async def get_fact(self, event_id: UUID) -> dict | None:
        """A stored fact, locked: event_id, enrolment_id, learner_id, programme_id, fact_type, occurred_at,
        data, body_hash, voided_at."""

    async def get_one(self, enrolment_id: UUID) -> tuple[Identity, Enrolment] | None:
        """One enrolment, locked."""

    async def active_facts(self, enrolment_id: UUID) -> list[dict]:
        """The enrolment's facts not voided, in date order: event_id, fact_type, occurred_at, data."""

    async def correct(self, event_id: UUID, occurred_at: datetime | None, data: dict | None) -> None:
        """Void the fact (no new values) or amend it."""

    async def add_correction(self, correction_id: UUID, event_id: UUID, action: str, body_hash: str,
                             before: dict, after: dict | None, result: dict) -> None:
        """The correction kept as history, with what the fact was and became."""


class PgUnit:
    """The unit on one asyncpg connection, inside the transaction the caller opened."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get_many(self, pairs):
        return await store.lock_enrolments(self.conn, pairs)

    async def learners_of(self, ids):
        return await store.learners_of(self.conn, ids)

    async def histories(self, enrolment_ids):
        return await store.active_facts_of(self.conn, enrolment_ids)

    async def known_facts(self, event_ids):
        return await store.fact_hashes(self.conn, event_ids)

    async def programmes(self, programme_ids):
        return set(await store.centres_of_programmes(self.conn, programme_ids)) if programme_ids else set()

    async def save_many(self, opened, changed):
        await store.insert_enrolments(self.conn, opened)
        await store.save_enrolments(self.conn, changed)

    async def add_facts(self, rows):
        await store.insert_facts(self.conn, rows)

    async def add_events(self, events):
        await add_events(self.conn, events)

    async def get_correction(self, correction_id):
        return await store.get_correction(self.conn, correction_id)

    async def get_fact(self, event_id):
        return await store.get_fact(self.conn, event_id, for_update=True)

    async def get_one(self, enrolment_id):
        return await store.lock_enrolment(self.conn, enrolment_id)

    async def active_facts(self, enrolment_id):
        return await store.active_facts(self.conn, enrolment_id)

    async def correct(self, event_id, occurred_at, data):
        if data is None:
            await store.void_fact(self.conn, event_id)
        else:
            await store.amend_fact(self.conn, event_id, occurred_at, data)

    async def add_correction(self, correction_id, event_id, action, body_hash, before, after, result):
        await store.insert_correction(self.conn, correction_id, event_id, action, body_hash, before, after, result)
