"""Outcomes's use cases: projecting the journey, recording outcomes, computing key figures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from services.outcomes import domain, figures_store, indicators, store
from services.outcomes.schemas import AttemptIn, CloseIn, OutcomeIn
from shared.contracts import Envelope, FollowupClosed, OutcomeRecorded, calendar
from shared.contracts.calendar import civil_date, civil_start
from shared.contracts.vocabulary import REGIONS
from shared.plumbing.outbox import add_events

PRODUCER = "outcomes"


class NotFound(domain.DomainError):
    status = 404
    code = "not_found"


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
            if event.event_type == "training.corrected":
                refused.update(await self._apply_segment(conn, segment))
                segment = []
                await self._apply_rare(conn, event)
            else:
                segment.append(event)
        refused.update(await self._apply_segment(conn, segment))
        return refused

    async def _apply_segment(self, conn: asyncpg.Connection, events: list[Envelope]) -> dict[uuid.UUID, BaseException]:
        of: dict[str, list[Envelope]] = {}
        for event in events:
            of.setdefault(event.event_type, []).append(event)
        # Which exits have their start before them: read before this segment's starts are written.
        refused = self._exits_without_start(events, await store.started_among(
            conn, [(e.learner_id, e.programme_id) for e in of.get("training.exited", [])]))
        for event in of.get("programme.registered", []) + of.get("session.scheduled", []):
            await self._apply_rare(conn, event)
        await store.upsert_submissions(conn, of.get("application.submitted", []))
        decided = of.get("application.decided", [])
        # A no-show is still an admission (the last decision stays "admitted"), never a learner.
        await store.mark_no_shows(conn, [e for e in decided if e.data.decision == "no_show"])
        await store.upsert_decisions(conn, [e for e in decided if e.data.decision != "no_show"])
        await store.upsert_starts(conn, of.get("training.started", []))
        await self._exits(conn, [e for e in of.get("training.exited", []) if e.event_id not in refused])
        for event in of.get("learner.erased", []):
            await self._apply_rare(conn, event)
        return refused

    @staticmethod
    def _exits_without_start(events: list[Envelope], started: set[tuple]) -> dict[uuid.UUID, BaseException]:
        # One learner's training events share a partition, so the start is always seen first:
        # an exit without one is an impossible transition, set aside (decided before any write).
        started = set(started)
        refused: dict[uuid.UUID, BaseException] = {}
        for e in events:
            key = (e.learner_id, e.programme_id)
            if e.event_type == "training.started":
                started.add(key)
            elif e.event_type == "training.exited" and key not in started:
                refused[e.event_id] = domain.ImpossibleTransition(
                    f"exit of learner {e.learner_id} from programme {e.programme_id}, who never started")
        return refused

    async def _apply_rare(self, conn: asyncpg.Connection, event: Envelope) -> None:
        kind = event.event_type
        if kind == "programme.registered":
            await store.upsert_programme(conn, event.programme_id, event.data)
        elif kind == "session.scheduled":
            await store.upsert_session(conn, event.programme_id, event.data)
        elif kind == "learner.erased":
            await store.erase_free_text(conn, event.learner_id)
        elif kind == "training.corrected":
            d = event.data
            await store.replace_enrolment(conn, event.learner_id, event.programme_id, d)
            if d.exited_at is not None and d.exit_reason and domain.opens_followup(d.exit_reason):
                dates = domain.followup_dates(civil_date(d.exited_at), self._before, self._after)
                await store.move_followup(conn, event.learner_id, event.programme_id, d.exit_reason, dates)
            else:
                await store.delete_followup(conn, event.learner_id, event.programme_id)
        # Attendance, milestones and interruptions do not enter the key figures of v1.

    async def _exits(self, conn: asyncpg.Connection, events: list[Envelope]) -> None:
        exits, followups = [], []
        for e in events:
            reason = e.data.reason
            exits.append((e.learner_id, e.programme_id, e.occurred_at, reason, e.data.dropout_cause))
            if domain.opens_followup(reason):
                # From the French date it happened, never from the clock at consumption.
                dates = domain.followup_dates(civil_date(e.occurred_at), self._before, self._after)
                followups.append((e.learner_id, e.programme_id, reason, dates))
        await store.upsert_exits(conn, exits)
        await store.insert_followups(conn, followups)



async def _followup(conn: asyncpg.Connection, learner_id, programme_id) -> dict:
    followup = await store.lock_followup(conn, calendar.today(), learner_id, programme_id)
    if followup is None:
        raise NotFound(f"no follow-up for learner {learner_id} in programme {programme_id}")
    return followup


async def _publish_outcome(conn, event_id, learner_id, programme_id, body: OutcomeIn, corrects) -> None:
    await add_events(conn, [OutcomeRecorded.build(
        event_id=event_id, occurred_at=civil_start(body.observed_on),
        recorded_at=datetime.now(UTC), producer=PRODUCER, learner_id=learner_id, programme_id=programme_id,
        data={"situation": body.situation, "situations": body.situations, "digital_job": body.digital_job,
              "source": body.source,
              "observed_on": body.observed_on, "corrects_event_id": corrects},
    )])


async def _publish_closed(conn, learner_id, programme_id, status: str) -> None:
    now = datetime.now(UTC)
    await add_events(conn, [FollowupClosed.build(
        event_id=uuid.uuid4(), occurred_at=now, recorded_at=now, producer=PRODUCER, learner_id=learner_id,
        programme_id=programme_id, data={"status": status, "closed_on": civil_date(now)})])


async def record_outcome(conn: asyncpg.Connection, learner_id, programme_id, body: OutcomeIn) -> dict:
    """Record the situation at six months; past the window it is accepted and flagged late."""
    followup = await _followup(conn, learner_id, programme_id)
    domain.check_outcome(body.situation, body.digital_job, body.observed_on, followup["exit_date"],
                         followup["status"])
    event_id = uuid.uuid4()
    late = followup["status"] == "overdue"
    await store.insert_outcome(conn, followup["followup_id"], event_id, learner_id, programme_id, body, late, None,
                               body.staff)
    await _publish_outcome(conn, event_id, learner_id, programme_id, body, None)
    await _publish_closed(conn, learner_id, programme_id, "recorded")
    return {"event_id": event_id, "result": "created", "learner_id": learner_id,
            "programme_id": programme_id, "status": "recorded", "late": late}


async def correct_outcome(conn: asyncpg.Connection, learner_id, programme_id, body: OutcomeIn) -> dict:
    """Replace the recorded outcome; the history keeps every version, the figures use the latest."""
    followup = await _followup(conn, learner_id, programme_id)
    domain.check_correction(body.situation, body.digital_job, body.observed_on, followup["exit_date"],
                            followup["status"])
    corrects = await store.latest_outcome_event(conn, followup["followup_id"])
    event_id = uuid.uuid4()
    await store.insert_outcome(conn, followup["followup_id"], event_id, learner_id, programme_id, body, False,
                               corrects, body.staff)
    await _publish_outcome(conn, event_id, learner_id, programme_id, body, corrects)
    return {"event_id": event_id, "result": "corrected", "corrects_event_id": corrects,
            "learner_id": learner_id, "programme_id": programme_id, "status": "recorded"}


async def log_attempt(conn: asyncpg.Connection, learner_id, programme_id, body: AttemptIn) -> dict:
    followup = await _followup(conn, learner_id, programme_id)
    after = domain.check_attempt(followup["status"], body.attempted_on, followup["exit_date"])
    if body.result == "refused":
        after = "refused"  # the learner said no: the follow-up closes
    await store.insert_attempt(conn, followup["followup_id"], learner_id, programme_id, body, body.staff, after)
    if after == "refused":
        await _publish_closed(conn, learner_id, programme_id, "refused")
    return await store.get_followup(conn, calendar.today(), learner_id, programme_id)


async def close_followup(conn: asyncpg.Connection, learner_id, programme_id, body: CloseIn) -> dict:
    followup = await _followup(conn, learner_id, programme_id)
    domain.check_close(followup["status"], body.status, body.reason)
    await store.set_followup_status(conn, learner_id, programme_id, body.status, body.reason)
    await _publish_closed(conn, learner_id, programme_id, body.status)
    return await store.get_followup(conn, calendar.today(), learner_id, programme_id)


async def assign_followup(conn: asyncpg.Connection, learner_id, programme_id, staff: str | None) -> dict:
    await _followup(conn, learner_id, programme_id)
    await store.assign(conn, learner_id, programme_id, staff)
    return await store.get_followup(conn, calendar.today(), learner_id, programme_id)


async def followup_detail(conn: asyncpg.Connection, learner_id, programme_id) -> dict | None:
    followup = await store.get_followup(conn, calendar.today(), learner_id, programme_id)
    if followup is not None:
        followup["attempts"] = await store.attempts(conn, followup["followup_id"])
        followup["outcomes"] = await store.outcome_history(conn, followup["followup_id"])
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
        per_programme = await figures_store.counts_per_programme(conn, year, cohort)
        catalogue = await figures_store.programmes(conn) if by else {}
    total = indicators.group(per_programme, lambda _: "all").get("all", (indicators.empty_raw(), {}))
    result = {
        "year": year,
        "definitions": indicators.DEFINITIONS_VERSION,
        "cohort": cohort,
        "cohorts": {
            "applications": "submitted or decided in the year",
            "learners": "started in the year, or in training during it",
            "exits": "exits dated in the year (transfers excluded)",
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
        groups = indicators.group(per_programme, key_of)
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
