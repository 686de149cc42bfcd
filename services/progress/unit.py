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


class PgUnit:
    """The unit on one asyncpg connection, inside the transaction the caller opened."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def get_many(self, pairs):
        return await store.lock_enrolments(self.conn, pairs)

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
