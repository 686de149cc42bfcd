"""Intake's Kafka input: training starts (so that no decision contradicts a started training) and
closed follow-ups (for the retention of contact details)."""

from __future__ import annotations

import uuid

import asyncpg

from services.intake import store
from shared.contracts import (
    TRAINING_V2,
    Envelope,
    FollowupClosed,
    TrainingCorrected,
    TrainingCorrectedV2,
    TrainingStarted,
    TrainingStartedV2,
)
from shared.contracts.topics import consumed_by

TOPICS = consumed_by("intake")


async def apply_many(conn: asyncpg.Connection, events: list[Envelope]) -> dict[uuid.UUID, BaseException]:
    """A consumed batch: the starts (and the corrections that move or void one) in one statement, in
    the order consumed; nothing here refuses an event. Attendance, milestones, exits and outcomes
    need nothing here."""
    starts, starts_v1 = [], []
    for event in events:
        if isinstance(event, (TrainingStarted, TrainingStartedV2)):
            started_at = event.occurred_at
        elif isinstance(event, (TrainingCorrected, TrainingCorrectedV2)):
            started_at = event.data.started_at
        else:
            if isinstance(event, FollowupClosed):
                await store.record_closure(conn, event.learner_id, event.programme_id, event.data.status,
                                           event.data.closed_on)
            continue
        if not isinstance(event, TRAINING_V2):
            starts_v1.append((event.learner_id, event.programme_id, started_at))
        elif event.data.application_id is not None:  # an enrolment continued after a transfer has none
            starts.append((event.data.application_id, started_at))
    await store.set_started(conn, starts, starts_v1)
    return {}


async def apply(conn: asyncpg.Connection, event: Envelope) -> None:
    await apply_many(conn, [event])
