"""Intake's Kafka input: training starts (so that no decision contradicts a started training) and
closed follow-ups (for the retention of contact details)."""

from __future__ import annotations

import uuid

import asyncpg

from services.intake import store
from shared.contracts import Envelope, FollowupClosed, TrainingCorrected, TrainingStarted
from shared.contracts.topics import consumed_by

TOPICS = consumed_by("intake")


async def apply_many(conn: asyncpg.Connection, events: list[Envelope]) -> dict[uuid.UUID, BaseException]:
    """A consumed batch: the starts (and the corrections that move or void one) in one statement, in
    the order consumed; nothing here refuses an event. Attendance, milestones, exits and outcomes
    need nothing here."""
    starts = []
    for event in events:
        if isinstance(event, TrainingStarted):
            starts.append((event.learner_id, event.programme_id, event.occurred_at))
        elif isinstance(event, TrainingCorrected):
            starts.append((event.learner_id, event.programme_id, event.data.started_at))
        elif isinstance(event, FollowupClosed):
            await store.record_closure(conn, event.learner_id, event.programme_id, event.data.status,
                                       event.data.closed_on)
    await store.set_started(conn, starts)
    return {}


async def apply(conn: asyncpg.Connection, event: Envelope) -> None:
    await apply_many(conn, [event])
