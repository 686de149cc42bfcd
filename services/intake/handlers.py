"""Intake's Kafka input: training starts (so that no decision contradicts a started training), the
application each enrolment follows, exits and closed follow-ups (contact details are read only for
a follow-up still open, and kept for the retention period after it closed)."""

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
    TrainingStartedV2,
    enrolment_of,
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


async def _training(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    """Starts, exits and corrections together, so that each is applied in the order consumed."""
    await _starts(conn, [e for e in events if not isinstance(e, TRAINING_EXITED)])
    await _links(conn, [e for e in events if not isinstance(e, TRAINING_CORRECTED)])
    await _exits(conn, [e for e in events if not isinstance(e, TRAINING_STARTED)])


async def _links(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    """The application each started (or exited) enrolment follows, for the follow-up's contact details."""
    links, links_v1, transfers = [], [], []
    for event in events:
        if not isinstance(event, TRAINING_V2):
            links_v1.append((enrolment_of(event), event.learner_id, event.programme_id))
        elif event.data.application_id is not None:
            links.append((event.data.enrolment_id, event.data.application_id))
        elif isinstance(event, TrainingStartedV2) and event.data.transferred_from is not None:
            transfers.append((event.data.enrolment_id, event.data.transferred_from))
    await store.link_enrolments(conn, links, links_v1, transfers)


async def _exits(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    """Exits that open a follow-up (a transfer opens none), and corrections that move or void one."""
    exits = []
    for event in events:
        if isinstance(event, TRAINING_CORRECTED):
            left = event.data.state == "exited" and event.data.exit_reason != "transferred"
            exited_at = event.data.exited_at if left else None
        else:
            exited_at = event.occurred_at if event.data.reason != "transferred" else None
        exits.append((enrolment_of(event), event.learner_id, event.programme_id, exited_at))
    await store.set_exits(conn, exits)




async def _closures(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    for event in events:
        await store.record_closure(conn, event.learner_id, event.programme_id, event.data.status,
                                   event.data.closed_on)


# Who takes each contract class intake consumes; and what it consumes but needs nothing from.
HANDLERS: dict[type[Envelope], Handler] = {
    **dict.fromkeys(TRAINING_STARTED + TRAINING_CORRECTED + TRAINING_EXITED, _training),
    FollowupClosed: _closures,
}
IGNORED: tuple[type[Envelope], ...] = (*TRAINING_PROGRESS, OutcomeRecorded)


async def apply(conn: asyncpg.Connection, event: Envelope) -> None:
    await apply_many(conn, [event])
