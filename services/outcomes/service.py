"""Outcomes's use cases: projecting the journey, recording outcomes, computing key figures."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import asyncpg

from services.outcomes import domain, figures_store, indicators, store
from services.outcomes.schemas import AttemptIn, CloseIn, OutcomeIn
from shared.contracts import (
    TRAINING_V2,
    ApplicationDecided,
    ApplicationDecidedV2,
    ApplicationSubmitted,
    Envelope,
    FollowupClosed,
    LearnerErased,
    OutcomeRecorded,
    ProgrammeModeChanged,
    ProgrammeRegistered,
    SessionScheduled,
    TrainingCorrected,
    TrainingCorrectedV2,
    TrainingExited,
    TrainingExitedV2,
    TrainingStarted,
    TrainingStartedV2,
    enrolment_of,
)
from shared.contracts.calendar import civil_date, civil_start
from shared.contracts.vocabulary import REGIONS
from shared.plumbing.outbox import add_events
from shared.refusals import Missing

PRODUCER = "outcomes"


class NotFound(domain.DomainError, Missing):
    code = "not_found"


class AmbiguousFollowup(domain.DomainError):
    code = "ambiguous_followup"


TRAINING_STARTED = (TrainingStarted, TrainingStartedV2)
TRAINING_EXITED = (TrainingExited, TrainingExitedV2)
TRAINING_CORRECTED = (TrainingCorrected, TrainingCorrectedV2)
DECIDED = (ApplicationDecided, ApplicationDecidedV2)


def _identity(event: Envelope) -> tuple:
    """(enrolment_id, learner_id, programme_id, application_id, session_id) of a training event; a v1
    event names neither application nor session (the projection keeps what it knows)."""
    if isinstance(event, TRAINING_V2):
        d = event.data
        return d.enrolment_id, event.learner_id, event.programme_id, d.application_id, d.session_id
    return enrolment_of(event), event.learner_id, event.programme_id, None, None


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
            await store.erase_free_text(conn, event.learner_id)
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


async def resolve_followup(conn: asyncpg.Connection, learner_id, programme_id) -> uuid.UUID:
    """The follow-up of a learner in a programme, when she has exactly one there (one per enrolment
    exited: a learner re-admitted to a later session may have several; then name it by its id)."""
    found = await store.followups_of(conn, learner_id, programme_id)
    if not found:
        raise NotFound(f"no follow-up for learner {learner_id} in programme {programme_id}")
    if len(found) > 1:
        raise AmbiguousFollowup(f"learner {learner_id} has {len(found)} follow-ups in programme {programme_id} "
                                f"(one per enrolment): {', '.join(map(str, found))}; address one by its id")
    return found[0]


async def followup_named(conn: asyncpg.Connection, item) -> uuid.UUID:
    """The follow-up an item names: by its id, by its enrolment's, or by learner and programme."""
    if item.followup_id is not None:
        return item.followup_id
    if item.enrolment_id is not None:
        found = await store.followup_of_enrolment(conn, item.enrolment_id)
        if found is None:
            raise NotFound(f"no follow-up for enrolment {item.enrolment_id}")
        return found
    return await resolve_followup(conn, item.learner_id, item.programme_id)


async def _followup(conn: asyncpg.Connection, followup_id, today: date) -> dict:
    followup = await store.lock_followup(conn, today, followup_id)
    if followup is None:
        raise NotFound(f"no follow-up {followup_id}")
    return followup


async def _publish_outcome(conn, event_id, followup: dict, body: OutcomeIn, corrects) -> None:
    await add_events(conn, [OutcomeRecorded.build(
        event_id=event_id, occurred_at=civil_start(body.observed_on), recorded_at=datetime.now(UTC),
        producer=PRODUCER, learner_id=followup["learner_id"], programme_id=followup["programme_id"],
        correlation_id=followup["followup_id"],
        data={"situation": body.situation, "situations": body.situations, "digital_job": body.digital_job,
              "source": body.source, "observed_on": body.observed_on, "corrects_event_id": corrects},
    )])


async def _publish_closed(conn, followup: dict, status: str) -> None:
    now = datetime.now(UTC)
    await add_events(conn, [FollowupClosed.build(
        event_id=uuid.uuid4(), occurred_at=now, recorded_at=now, producer=PRODUCER,
        learner_id=followup["learner_id"], programme_id=followup["programme_id"],
        correlation_id=followup["followup_id"], data={"status": status, "closed_on": civil_date(now)})])


def _result(followup: dict, **fields) -> dict:
    return {**fields, "followup_id": followup["followup_id"], "learner_id": followup["learner_id"],
            "programme_id": followup["programme_id"]}


async def record_outcome(conn: asyncpg.Connection, followup_id, body: OutcomeIn, *, today: date) -> dict:
    """Record the situation at six months; past the window it is accepted and flagged late."""
    followup = await _followup(conn, followup_id, today)
    domain.check_outcome(body.situation, body.digital_job, body.observed_on, followup["exit_date"],
                         followup["status"])
    event_id = uuid.uuid4()
    late = followup["status"] == "overdue"
    await store.insert_outcome(conn, followup_id, event_id, followup["learner_id"], followup["programme_id"], body,
                               late, None, body.staff)
    await _publish_outcome(conn, event_id, followup, body, None)
    await _publish_closed(conn, followup, "recorded")
    return _result(followup, event_id=event_id, result="created", status="recorded", late=late)


async def correct_outcome(conn: asyncpg.Connection, followup_id, body: OutcomeIn, *, today: date) -> dict:
    """Replace the recorded outcome; the history keeps every version, the figures use the latest."""
    followup = await _followup(conn, followup_id, today)
    domain.check_correction(body.situation, body.digital_job, body.observed_on, followup["exit_date"],
                            followup["status"])
    corrects = await store.latest_outcome_event(conn, followup_id)
    event_id = uuid.uuid4()
    await store.insert_outcome(conn, followup_id, event_id, followup["learner_id"], followup["programme_id"], body,
                               False, corrects, body.staff)
    await _publish_outcome(conn, event_id, followup, body, corrects)
    return _result(followup, event_id=event_id, result="corrected", corrects_event_id=corrects, status="recorded")


async def log_attempt(conn: asyncpg.Connection, followup_id, body: AttemptIn, *, today: date) -> dict:
    followup = await _followup(conn, followup_id, today)
    after = domain.check_attempt(followup["status"], body.attempted_on, followup["exit_date"])
    if body.result == "refused":
        after = "refused"  # the learner said no: the follow-up closes
    await store.insert_attempt(conn, followup_id, followup["learner_id"], followup["programme_id"], body, body.staff,
                               after)
    if after == "refused":
        await _publish_closed(conn, followup, "refused")
    return await store.get_followup(conn, today, followup_id)


async def close_followup(conn: asyncpg.Connection, followup_id, body: CloseIn, *, today: date) -> dict:
    followup = await _followup(conn, followup_id, today)
    domain.check_close(followup["status"], body.status, body.reason)
    await store.set_followup_status(conn, followup_id, body.status, body.reason)
    await _publish_closed(conn, followup, body.status)
    return await store.get_followup(conn, today, followup_id)


async def assign_followup(conn: asyncpg.Connection, followup_id, staff: str | None, *, today: date) -> dict:
    await _followup(conn, followup_id, today)
    await store.assign(conn, followup_id, staff)
    return await store.get_followup(conn, today, followup_id)


async def followup_detail(conn: asyncpg.Connection, followup_id, *, today: date) -> dict | None:
    followup = await store.get_followup(conn, today, followup_id)
    if followup is not None:
        followup["attempts"] = await store.attempts(conn, followup_id)
        followup["outcomes"] = await store.outcome_history(conn, followup_id)
    return followup


# Breakdown dimension -> (programme column used as key, column used as label)
BREAKDOWNS = {"region": ("region", "region"), "programme": ("programme_id", "title"),
              "centre": ("centre_id", "centre_name"), "job_family": ("job_family", "job_family")}
COHORTS = {
    "exit": "follow-up figures for learners whose exit is dated in the year (exit cohort)",
    "entry": "follow-up figures for learners whose start is dated in the year (entry cohort)",
}


async def key_figures(pool: asyncpg.Pool, year: int, by: str | None = None, cohort: str = "exit",
                      suppress_under: int | None = None) -> dict:
    """The key figures of a year for the network, and optionally broken down by a programme attribute."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        per_programme, enrolments, profiles = await figures_store.counts_per_programme(conn, year, cohort)
        catalogue = await figures_store.programmes(conn) if by else {}

    def grouped(key_of) -> dict:
        return indicators.with_people(indicators.group(per_programme, key_of),
                                      indicators.people(enrolments, profiles, key_of))

    total = grouped(lambda _: "all").get("all", (indicators.empty_raw(), {}))
    result = {
        "year": year,
        "definitions": indicators.DEFINITIONS_VERSION,
        "cohort": cohort,
        "cohorts": {
            "applications": "submitted or decided in the year",
            "learners": "people who started in the year, or were in training during it: each person once (in a "
                        "breakdown, once per group), with the attributes of her latest admission and her age band "
                        "at entry",
            "exits": "enrolments exited in the year (transfers excluded: the journey goes on elsewhere)",
            "followups": COHORTS[cohort],
        },
        **indicators.figures(*total),
    }
    if by:
        key_column, label_column = BREAKDOWNS[by]

        def key_of(programme_id):
            return str((catalogue.get(programme_id) or {}).get(key_column) or "unknown")

        labels = {str(p[key_column]): p[label_column] for p in catalogue.values()}
        if by == "region":
            labels = {code: REGIONS.get(code, code) for code in labels}
        groups = grouped(key_of)
        result["breakdown"] = {"by": by, "groups": [
            {"key": key, "label": labels.get(key, key), **indicators.figures(*groups[key])}
            for key in sorted(groups)
        ]}
    if suppress_under:
        result.update(indicators.suppress(result, suppress_under))
        for group in result.get("breakdown", {}).get("groups", []):
            group.update(indicators.suppress(group, suppress_under))
        result["suppressed_under"] = suppress_under
    return result
