"""In-memory fakes of the services' units of work: the rules of a whole use case, run without a database.

Each fake keeps what its real unit keeps (PostgreSQL rows) in dicts and lists, answering the
unit's questions the same way; `tests/integration` holds the real units to the same behaviour.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from services.progress import service as progress_service
from services.progress.domain import Enrolment, Fact
from services.progress.store import Identity


class FakeProgressUnit:
    """progress.unit.Unit in memory; `admit` opens an enrolment as the decisions consumer does."""

    def __init__(self) -> None:
        self.identities: dict[UUID, Identity] = {}
        self.enrolments: dict[UUID, Enrolment] = {}
        self.facts: list[tuple] = []  # rows as stored, in arrival order
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

    async def histories(self, enrolment_ids):
        found: dict[UUID, list[Fact]] = {key: [] for key in enrolment_ids}
        for _, key, _, _, fact_type, occurred_at, data, _ in self.facts:
            if key in found:
                found[key].append(progress_service._as_fact(fact_type, occurred_at, data))
        return {key: sorted(facts, key=lambda f: f.occurred_at) for key, facts in found.items()}

    async def known_facts(self, event_ids):
        wanted = set(event_ids)
        return {row[0]: (row[7], row[1]) for row in self.facts if row[0] in wanted}

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
        self.facts.extend(rows)

    async def add_events(self, events):
        self.events.extend(events)
