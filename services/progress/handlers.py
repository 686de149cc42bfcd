"""Progress's Kafka input: which topics it consumes and what it does with the events.

Admission decisions are most of what it applies; a batch's decisions are applied set-based
(the enrolments read and locked in one statement, written in two). Each admission opens its own
enrolment, whose id is the admitted application's.
"""

from __future__ import annotations

import uuid

import asyncpg

from services.progress import domain, statements, store
from services.progress.store import Identity
from shared.contracts import (
    DECIDED,
    ApplicationDecidedV2,
    ApplicationSubmitted,
    Envelope,
    LearnerErased,
    ProgrammeModeChanged,
    ProgrammeRegistered,
    SessionScheduled,
)
from shared.contracts.topics import consumed_by
from shared.plumbing.dispatch import Handler, dispatch
from shared.plumbing.erasure import apply_erasure

TOPICS = consumed_by("progress")


async def apply(conn: asyncpg.Connection, event: Envelope) -> None:
    await apply_many(conn, [event])


async def apply_many(conn: asyncpg.Connection, events: list[Envelope]) -> dict[uuid.UUID, BaseException]:
    """The events of a consumed batch, each kind by its handler (HANDLERS); nothing here refuses one.

    Decisions touch only enrolments, programmes only programmes and erasures only the facts'
    free text, so each kind can be applied on its own."""
    await dispatch(conn, events, HANDLERS)
    return {}


async def _programmes(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    for event in events:
        d = event.data
        await store.upsert_programme(conn, event.programme_id, d.centre_id, d.duration_months, d.start_date)


async def _erasures(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    for event in events:
        await erase(conn, event.learner_id, event.occurred_at)


async def erase(conn: asyncpg.Connection, learner_id: uuid.UUID, erased_at) -> int:
    """A learner's erasure here (also applied again by `parcours restore-check` after a restore)."""
    return await apply_erasure(conn, learner_id, erased_at, store.erase_free_text)


async def _decisions(conn: asyncpg.Connection, events: list[Envelope]) -> None:
    """Each admitted application opens an enrolment (its id is the application's); a withdrawal or a
    no-show closes the enrolment of its application if it has not started."""
    current = await store.lock_enrolments_of_applications(
        conn, [(e.data.application_id, e.learner_id, e.programme_id, e.data.decision) for e in events])
    states = {application_id: e for application_id, (_, e) in current.items()}
    new: dict[uuid.UUID, tuple] = {}  # application_id -> (identity, admitted_at) of enrolments opened here
    changed: set[uuid.UUID] = set()
    for event in events:
        application_id = event.data.application_id
        before = states.get(application_id)
        after = domain.on_decision(before, event.data.decision)
        if after is None or after is before:
            continue
        if before is None:
            session_id = event.data.session_id if isinstance(event, ApplicationDecidedV2) else None
            new[application_id] = (Identity(application_id, event.learner_id, event.programme_id, application_id,
                                            session_id), event.occurred_at)
        else:
            changed.add(application_id)
        states[application_id] = after
    await store.insert_enrolments(conn, [(identity, states[key], admitted_at)
                                         for key, (identity, admitted_at) in new.items()])
    await store.save_enrolments(conn, {current[key][0].enrolment_id: states[key] for key in changed - new.keys()})
    if new:  # statements an LMS sent before the admission reached us now have their enrolment
        await statements.retry_for(conn, list(new))


# Who takes each contract class progress consumes, in the order they are applied; and what it
# consumes but needs nothing from (a submission says nothing of training; sessions and modes are
# intake's and outcomes' business).
HANDLERS: dict[type[Envelope], Handler] = {
    **dict.fromkeys(DECIDED, _decisions),
    ProgrammeRegistered: _programmes,
    LearnerErased: _erasures,
}
IGNORED: tuple[type[Envelope], ...] = (ApplicationSubmitted, SessionScheduled, ProgrammeModeChanged)
