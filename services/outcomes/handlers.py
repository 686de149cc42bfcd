"""Outcomes's Kafka input: it consumes every topic of the journey into its projection, and opens a
follow-up at each exit.

Dispatch is on the contract classes; each kind of event is applied set-based, a kind at a time.
"""

from __future__ import annotations

import uuid

import asyncpg

from services.outcomes import domain, store
from shared.contracts import (
    DECIDED,
    TRAINING_CORRECTED,
    TRAINING_EXITED,
    TRAINING_PROGRESS,
    TRAINING_STARTED,
    TRAINING_V2,
    ApplicationSubmitted,
    Envelope,
    LearnerErased,
    ProgrammeModeChanged,
    ProgrammeRegistered,
    SessionScheduled,
    TrainingStarted,
    TrainingStartedV2,
    enrolment_of,
)
from shared.contracts.calendar import civil_date
from shared.contracts.topics import consumed_by
from shared.plumbing.erasure import apply_erasure

TOPICS = consumed_by("outcomes")



def _identity(event: Envelope) -> tuple:
    """(enrolment_id, learner_id, programme_id, application_id, session_id) of a training event; a v1
    event names neither application nor session (the projection keeps what it knows)."""
    if isinstance(event, TRAINING_V2):
        d = event.data
        return d.enrolment_id, event.learner_id, event.programme_id, d.application_id, d.session_id
    return enrolment_of(event), event.learner_id, event.programme_id, None, None


async def erase(conn: asyncpg.Connection, learner_id: uuid.UUID, erased_at) -> int:
    """A learner's erasure here (also applied again by `parcours restore-check` after a restore)."""
    return await apply_erasure(conn, learner_id, erased_at, store.erase_free_text)


class Projector:
    """Applies consumed events to the journey projection; opens a follow-up on each exit."""

    def __init__(self, window_before: int = 1, window_after: int = 2) -> None:
        self._before = window_before
        self._after = window_after

    async def apply(self, conn: asyncpg.Connection, event: Envelope) -> None:
        refused = await self.apply_many(conn, [event])
        if refused:
            raise refused[event.event_id]

    async def apply_many(self, conn: asyncpg.Connection, events: list[Envelope]) -> dict[uuid.UUID, BaseException]:
        """A consumed batch, set-based: each kind of event in a few statements, whatever the batch size.

        Kinds touch separate rows or columns (a submission and a decision set different columns of
        the application, a start and an exit different columns of the enrolment), so they need
        not be applied in the order consumed, except where one event's validity depends on an
        earlier one (an exit needs a start before it) or replaces what came before (a correction):
        the first is decided from the positions in the batch, and the batch is cut at corrections.
        """
        refused: dict[uuid.UUID, BaseException] = {}
        segment: list[Envelope] = []
        for event in events:
            if isinstance(event, TRAINING_CORRECTED):
                refused.update(await self._apply_segment(conn, segment))
                segment = []
                await self._correction(conn, event)
            else:
                segment.append(event)
        refused.update(await self._apply_segment(conn, segment))
        return refused

    async def _apply_segment(self, conn: asyncpg.Connection, events: list[Envelope]) -> dict[uuid.UUID, BaseException]:
        of: dict[type, list[Envelope]] = {}  # one pass: the events of each contract class
        for event in events:
            of.setdefault(type(event), []).append(event)

        def kind(*classes) -> list[Envelope]:
            return [e for cls in classes for e in of.get(cls, ())]

        exits = kind(*TRAINING_EXITED)
        # Which exits have their start before them: read before this segment's starts are written.
        refused = self._exits_without_start(
            [e for e in events if isinstance(e, TRAINING_STARTED + TRAINING_EXITED)] if exits else [],
            await store.started_among(conn, [enrolment_of(e) for e in exits]))
        for event in kind(ProgrammeRegistered):
            await store.upsert_programme(conn, event.programme_id, event.data)
        for event in kind(SessionScheduled):
            await store.upsert_session(conn, event.programme_id, event.data)
        for event in kind(ProgrammeModeChanged):
            await store.upsert_mode(conn, event.programme_id, event.data)
        await store.upsert_submissions(conn, kind(ApplicationSubmitted))
        decided = kind(*DECIDED)
        # A no-show is still an admission (the last decision stays "admitted"), never a learner.
        await store.mark_no_shows(conn, [e for e in decided if e.data.decision == "no_show"])
        await store.upsert_decisions(conn, [e for e in decided if e.data.decision != "no_show"])
        await store.upsert_starts(conn, [(*_identity(e), None, e.occurred_at) for e in kind(TrainingStarted)] + [
            (*_identity(e), e.data.transferred_from, e.occurred_at) for e in kind(TrainingStartedV2)])
        await self._exits(conn, [e for e in exits if e.event_id not in refused])
        for event in kind(LearnerErased):
            await erase(conn, event.learner_id, event.occurred_at)
        # Attendance, milestones and interruptions do not enter the key figures of v1.
        return refused

    @staticmethod
    def _exits_without_start(events: list[Envelope], started: set) -> dict[uuid.UUID, BaseException]:
        # One learner's training events share a partition, so the start is always seen first:
        # an exit without one is an impossible transition, set aside (decided before any write).
        started = set(started)
        refused: dict[uuid.UUID, BaseException] = {}
        for e in events:
            if isinstance(e, TRAINING_STARTED):
                started.add(enrolment_of(e))
            elif isinstance(e, TRAINING_EXITED) and enrolment_of(e) not in started:
                refused[e.event_id] = domain.ImpossibleTransition(
                    f"exit of learner {e.learner_id} from programme {e.programme_id} (enrolment {enrolment_of(e)}), "
                    "who never started")
        return refused

    async def _correction(self, conn: asyncpg.Connection, event: Envelope) -> None:
        """A correction carries the enrolment as it now stands: replace it, and move, open or close
        its follow-up accordingly."""
        d, identity = event.data, _identity(event)
        await store.replace_enrolment(conn, identity, d)
        if d.exited_at is not None and d.exit_reason and domain.opens_followup(d.exit_reason):
            dates = domain.followup_dates(civil_date(d.exited_at), self._before, self._after)
            await store.move_followup(conn, identity, d.exit_reason, dates)
        else:
            await store.delete_followup(conn, identity[0])

    async def _exits(self, conn: asyncpg.Connection, events: list[Envelope]) -> None:
        exits, followups = [], []
        for e in events:
            reason, identity = e.data.reason, _identity(e)
            exits.append((*identity, e.occurred_at, reason, e.data.dropout_cause))
            if domain.opens_followup(reason):
                # From the French date it happened, never from the clock at consumption.
                dates = domain.followup_dates(civil_date(e.occurred_at), self._before, self._after)
                followups.append((*identity[:3], reason, dates))
        await store.upsert_exits(conn, exits)
        await store.insert_followups(conn, followups)


# The contract classes the projector applies (each kind set-based, in Projector._apply_segment),
# and those it consumes but that enter no figure of v1.
HANDLED: tuple[type[Envelope], ...] = (
    ProgrammeRegistered, SessionScheduled, ProgrammeModeChanged, ApplicationSubmitted, *DECIDED,
    *TRAINING_STARTED, *TRAINING_EXITED, *TRAINING_CORRECTED, LearnerErased,
)
IGNORED: tuple[type[Envelope], ...] = TRAINING_PROGRESS
