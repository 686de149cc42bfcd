"""Outcomes's use cases: projecting the journey, recording outcomes, computing key figures."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import asyncpg

from services.outcomes import disclosure, domain, figures_store, indicators
from services.outcomes.schemas import AttemptIn, CloseIn, OutcomeIn
from services.outcomes.unit import Unit
from shared.contracts import (
    FollowupClosed,
    OutcomeRecorded,
)
from shared.contracts import labels as words
from shared.contracts.calendar import civil_date, civil_start
from shared.contracts.labels import N_
from shared.contracts.vocabulary import REGIONS
from shared.refusals import Invalid, Missing

PRODUCER = "outcomes"


class NotFound(domain.DomainError, Missing):
    code = "not_found"


class AmbiguousFollowup(domain.DomainError):
    code = "ambiguous_followup"


async def resolve_followup(unit: Unit, learner_id, programme_id) -> uuid.UUID:
    """The follow-up of a learner in a programme, when she has exactly one there (one per enrolment
    exited: a learner re-admitted to a later session may have several; then name it by its id)."""
    found = await unit.followups_of(learner_id, programme_id)
    if not found:
        raise NotFound(f"no follow-up for learner {learner_id} in programme {programme_id}")
    if len(found) > 1:
        raise AmbiguousFollowup(f"learner {learner_id} has {len(found)} follow-ups in programme {programme_id} "
                                f"(one per enrolment): {', '.join(map(str, found))}; address one by its id")
    return found[0]


async def followup_named(unit: Unit, item) -> uuid.UUID:
    """The follow-up an item names: by its id, by its enrolment's, or by learner and programme."""
    if item.followup_id is not None:
        return item.followup_id
    if item.enrolment_id is not None:
        found = await unit.followup_of_enrolment(item.enrolment_id)
        if found is None:
            raise NotFound(f"no follow-up for enrolment {item.enrolment_id}")
        return found
    return await resolve_followup(unit, item.learner_id, item.programme_id)


async def _followup(unit: Unit, followup_id, today: date) -> dict:
    followup = await unit.followup(followup_id, today)
    if followup is None:
        raise NotFound(f"no follow-up {followup_id}")
    return followup


def _outcome_event(event_id, followup: dict, body: OutcomeIn, corrects) -> OutcomeRecorded:
    return OutcomeRecorded.build(
        event_id=event_id, occurred_at=civil_start(body.observed_on), recorded_at=datetime.now(UTC),
        producer=PRODUCER, learner_id=followup["learner_id"], programme_id=followup["programme_id"],
        correlation_id=followup["followup_id"],
        data={"situation": body.situation, "situations": body.situations, "digital_job": body.digital_job,
              "source": body.source, "observed_on": body.observed_on, "corrects_event_id": corrects},
    )


def _closed_event(followup: dict, status: str) -> FollowupClosed:
    now = datetime.now(UTC)
    return FollowupClosed.build(
        event_id=uuid.uuid4(), occurred_at=now, recorded_at=now, producer=PRODUCER,
        learner_id=followup["learner_id"], programme_id=followup["programme_id"],
        correlation_id=followup["followup_id"], data={"status": status, "closed_on": civil_date(now)})


def _result(followup: dict, **fields) -> dict:
    return {**fields, "followup_id": followup["followup_id"], "learner_id": followup["learner_id"],
            "programme_id": followup["programme_id"]}


async def record_outcome(unit: Unit, followup_id, body: OutcomeIn, *, today: date) -> dict:
    """Record the situation at six months; past the window it is accepted and flagged late."""
    followup = await _followup(unit, followup_id, today)
    late = domain.check_outcome(body.situation, body.digital_job, body.observed_on, followup["exit_date"],
                                followup["status"])
    event_id = uuid.uuid4()
    await unit.add_outcome(followup, event_id, body, late, None)
    await unit.add_events([_outcome_event(event_id, followup, body, None), _closed_event(followup, "recorded")])
    return _result(followup, event_id=event_id, result="created", status="recorded", late=late)


async def correct_outcome(unit: Unit, followup_id, body: OutcomeIn, *, today: date) -> dict:
    """Replace the recorded outcome; the history keeps every version, the figures use the latest."""
    followup = await _followup(unit, followup_id, today)
    domain.check_correction(body.situation, body.digital_job, body.observed_on, followup["exit_date"],
                            followup["status"])
    corrects = await unit.latest_outcome(followup_id)
    event_id = uuid.uuid4()
    await unit.add_outcome(followup, event_id, body, False, corrects)
    await unit.add_events([_outcome_event(event_id, followup, body, corrects)])
    return _result(followup, event_id=event_id, result="corrected", corrects_event_id=corrects, status="recorded")


async def log_attempt(unit: Unit, followup_id, body: AttemptIn, *, today: date) -> dict:
    followup = await _followup(unit, followup_id, today)
    after = domain.check_attempt(followup["status"], body.attempted_on, followup["exit_date"], body.result)
    await unit.add_attempt(followup, body, after)
    if after in domain.CLOSED:
        await unit.add_events([_closed_event(followup, after)])
    return await unit.view(followup_id, today)


async def close_followup(unit: Unit, followup_id, body: CloseIn, *, today: date) -> dict:
    followup = await _followup(unit, followup_id, today)
    domain.check_close(followup["status"], body.status, body.reason)
    await unit.set_status(followup_id, body.status, body.reason)
    await unit.add_events([_closed_event(followup, body.status)])
    return await unit.view(followup_id, today)


async def assign_followup(unit: Unit, followup_id, staff: str | None, *, today: date) -> dict:
    await _followup(unit, followup_id, today)
    await unit.assign(followup_id, staff)
    return await unit.view(followup_id, today)


async def followup_detail(unit: Unit, followup_id, *, today: date) -> dict | None:
    followup = await unit.view(followup_id, today)
    if followup is not None:
        followup["attempts"], followup["outcomes"] = await unit.history(followup_id)
    return followup


# Breakdown dimension -> (programme column used as key, column used as label)
# Each breakdown: the programme attribute that names a group, and the one that labels it.
BREAKDOWNS = {"region": ("region", "region"), "programme": ("programme_id", "title"),
              "centre": ("centre_id", "centre_name"), "job_family": ("job_family", "job_family"),
              "departement": ("departement", "departement"), "certification": ("rncp", "rncp"),
              "mode": ("mode", "mode"), "label_year": ("label_year", "label_year"),
              "funding_line": ("funding_line", "funding_line")}
COHORTS = {
    "exit": N_("follow-up figures for learners whose exit is dated in the year (exit cohort)"),
    "entry": N_("follow-up figures for learners whose start is dated in the year (entry cohort)"),
}


class TooEarly(Invalid):
    code = "as_of_out_of_range"


async def key_figures(pool: asyncpg.Pool, year: int, by: str | None = None, cohort: str = "exit",
                      suppress_under: int | None = None, funding_line: str | None = None,
                      as_of: datetime | None = None) -> dict:
    """The key figures of a year for the network (or the programmes of one funding line: each
    funder is reported to separately), and optionally broken down by a programme attribute; as
    known at `as_of` when given (what was recorded after it, late facts and corrections, ignored)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        if as_of is not None:
            await _check_as_of(conn, as_of)
        per_programme, enrolments, profiles = await figures_store.counts_per_programme(conn, year, cohort, as_of)
        catalogue = await figures_store.programmes(conn, year, as_of) if by or funding_line else {}
    if funding_line:
        funded = {pid for pid, p in catalogue.items() if p["funding_line"] == funding_line}
        per_programme = {pid: counts for pid, counts in per_programme.items() if pid in funded}
        enrolments = [e for e in enrolments if e[1] in funded]

    def grouped(key_of) -> dict:
        return indicators.with_people(indicators.group(per_programme, key_of),
                                      indicators.people(enrolments, profiles, key_of))

    total = grouped(lambda _: "all").get("all", (indicators.empty_raw(), {}))
    result = {
        "year": year,
        "definitions": indicators.DEFINITIONS_VERSION,
        "cohort": cohort,
        "cohorts": {
            "applications": N_("submitted or decided in the year"),
            "learners": N_("people who started in the year, or were in training during it: each person once (in a "
                           "breakdown, once per group), with the attributes of her latest admission and her age band "
                           "at entry"),
            "exits": N_("enrolments exited in the year (transfers excluded: the journey goes on elsewhere)"),
            "followups": COHORTS[cohort],
        },
        **indicators.figures(*total),
    }
    if funding_line:
        result["funding_line"] = funding_line
    if as_of is not None:
        result["as_of"] = as_of.isoformat()
    if by:
        key_column, label_column = BREAKDOWNS[by]

        def key_of(programme_id):
            return str((catalogue.get(programme_id) or {}).get(key_column) or "unknown")

        labels = {str(p[key_column]): str(p[label_column]) for p in catalogue.values()}
        named = {"region": REGIONS, "mode": words.MODE, "funding_line": words.FUNDING_LINE,
                 "job_family": words.JOB_FAMILY}.get(by)
        if named:
            labels = {code: named.get(code, code) for code in labels}
        groups = grouped(key_of)
        result["breakdown"] = {"by": by, "groups": [
            {"key": key, "label": labels.get(key, key), **indicators.figures(*groups[key])}
            for key in sorted(groups)
        ]}
    if suppress_under:
        result = disclosure.protect(result, suppress_under)
    return result


async def _check_as_of(conn, as_of: datetime) -> None:
    """Figures are known as of a moment between the start of the history and now."""
    start = await figures_store.history_start(conn)
    if as_of < start:
        raise TooEarly(f"as_of: figures are known as of {start.isoformat()} at the earliest (when this version "
                       "started keeping the history of what was recorded)")
    if as_of > datetime.now(UTC):
        raise TooEarly("as_of is in the future")
