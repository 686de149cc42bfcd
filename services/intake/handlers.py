"""Intake's Kafka input: closed follow-ups, for the retention of contact details."""

from __future__ import annotations

import asyncpg

from services.intake import store
from shared.contracts import Envelope
from shared.contracts.topics import consumed_by

TOPICS = consumed_by("intake")


async def apply(conn: asyncpg.Connection, event: Envelope) -> None:
    if event.event_type == "followup.closed":
        await store.record_closure(conn, event.learner_id, event.programme_id, event.data.status,
                                   event.data.closed_on)
    # outcome.recorded and followup.due need nothing here.
