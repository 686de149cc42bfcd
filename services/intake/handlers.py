"""Intake's Kafka input: training starts (so that no decision contradicts a started training) and
closed follow-ups (for the retention of contact details)."""

from __future__ import annotations

import uuid

import asyncpg

from services.intake import store
from shared.contracts import (
    TRAINING_CORRECTED,
    TRAINING_EXITED,
    TRAINING_PROGRESS,
    TRAINING_STARTED,
    TRAINING_V2,
    Envelope,
    FollowupClosed,
    OutcomeRecorded,
)
from shared.contracts.topics import consumed_by
from shared.plumbing.dispatch import Handler, dispatch

TOPICS = consumed_by("intake")


async def apply_many(conn: asyncpg.Connection, events: list[Envelope]) -> dict[uuid.UUID, BaseException]:
    """A consumed batch, each kind by its handler (HANDLERS); nothing here refuses an event."""
    await dispatch(conn, events, HANDLERS)
    return {}


async def _starts(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    """The starts, and the corrections that move or void one, in one statement, in the order consumed."""
    starts, starts_v1 = [], []
    for event in events:
        started_at = event.data.started_at if isinstance(event, TRAINING_CORRECTED) else event.occurred_at
        if not isinstance(event, TRAINING_V2):
            starts_v1.append((event.learner_id, event.programme_id, started_at))
        elif event.data.application_id is not None:  # an enrolment continued after a transfer has none
            starts.append((event.data.application_id, started_at))
    await store.set_started(conn, starts, starts_v1)


async def _closures(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    for event in events:
        await store.record_closure(conn, event.learner_id, event.programme_id, event.data.status,
                                   event.data.closed_on)


# Who takes each contract class intake consumes; and what it consumes but needs nothing from.
HANDLERS: dict[type[Envelope], Handler] = {
    **dict.fromkeys(TRAINING_STARTED + TRAINING_CORRECTED, _starts),
    FollowupClosed: _closures,
}
IGNORED: tuple[type[Envelope], ...] = (*TRAINING_PROGRESS, *TRAINING_EXITED, OutcomeRecorded)


async def apply(conn: asyncpg.Connection, event: Envelope) -> None:
    await apply_many(conn, [event])
