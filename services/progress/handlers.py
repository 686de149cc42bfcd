"""Progress's Kafka input: which topics it consumes and what it does with the events.

Admission decisions are most of what it applies; a batch's decisions are applied set-based
(the enrolments read and locked in one statement, written in two).
"""

from __future__ import annotations

import uuid

import asyncpg

from services.progress import domain, store
from shared.contracts import Envelope
from shared.contracts.topics import consumed_by

TOPICS = consumed_by("progress")


async def apply(conn: asyncpg.Connection, event: Envelope) -> None:
    """Consumed events: programmes and admission decisions shape the enrolments."""
    if event.event_type == "application.decided":
        await _decisions(conn, [event])
    elif event.event_type == "programme.registered":
        d = event.data
        await store.upsert_programme(conn, event.programme_id, d.centre_id, d.duration_months, d.start_date)
    elif event.event_type == "learner.erased":
        await store.erase_free_text(conn, event.learner_id)
    # session.scheduled: places are intake's business; application.submitted needs nothing here.


async def apply_many(conn: asyncpg.Connection, events: list[Envelope]) -> dict[uuid.UUID, BaseException]:
    """The events of a consumed batch; nothing here refuses an event.

    Decisions touch only enrolments, programmes only programmes and erasures only the facts'
    free text, so each kind can be applied on its own: the decisions all at once, in the order
    consumed, the rare others one by one.
    """
    decisions = [e for e in events if e.event_type == "application.decided"]
    if decisions:
        await _decisions(conn, decisions)
    for event in events:
        if event.event_type != "application.decided":
            await apply(conn, event)
    return {}


async def _decisions(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    current = await store.lock_enrolments(conn, {(e.learner_id, e.programme_id) for e in events})
    new: dict[tuple, tuple] = {}  # key -> (application_id, admitted_at) of enrolments created here
    changed: set[tuple] = set()
    for event in events:
        key = (event.learner_id, event.programme_id)
        before = current.get(key)
        after = domain.on_decision(before, event.data.decision)
        if after is None or after is before:
            continue
        if before is None:
            new[key] = (event.data.application_id, event.occurred_at)
        else:
            changed.add(key)
        current[key] = after
    await store.insert_enrolments(conn, [(*key, application_id, current[key].state, admitted_at)
                                         for key, (application_id, admitted_at) in new.items()])
    await store.save_enrolments(conn, {key: current[key] for key in changed - new.keys()})
