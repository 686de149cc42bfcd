"""Intake's use cases: one transaction each, events written to the outbox in it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import asyncpg

from services.intake import domain, store
from services.intake import store_catalogue as catalogue
from services.intake.schemas import (
    ApplicationIn,
    CentreIn,
    DecisionIn,
    DecisionItemIn,
    ModeChangeIn,
    ProgrammeIn,
    SessionIn,
)
from services.intake.unit import Unit
from shared.contracts import (
    ApplicationDecidedV2,
    ApplicationSubmitted,
    CandidateProfile,
    LearnerErased,
    ProgrammeModeChanged,
    ProgrammeRegistered,
    SessionScheduled,
)
from shared.contracts.calendar import add_months, civil_date, civil_start
from shared.plumbing.erasure import apply_erasure, erase_kept_copies, record_erasure
from shared.plumbing.outbox import add_events
from shared.refusals import Invalid, Missing

PRODUCER = "intake"


class NotFound(domain.DomainError, Missing):
    code = "not_found"


class UnknownProgramme(domain.DomainError, Invalid):
    code = "unknown_programme"
    field = "programme_id"


class UnknownSession(domain.DomainError, Invalid):
    code = "unknown_session"
    field = "session_id"


class SessionNotInProgramme(domain.DomainError, Invalid):
    code = "session_not_in_programme"
    field = "session_id"


class SessionTaken(domain.DomainError):
    code = "session_id_taken"
    field = "session_id"


class SiretTaken(domain.DomainError):
    code = "siret_taken"
    field = "siret"


def _now() -> datetime:
    return datetime.now(UTC)


# --- the catalogue ------------------------------------------------------------------


async def register_centre(pool: asyncpg.Pool, body: CentreIn) -> tuple[dict, bool]:
    """Register a centre; the same centre_id, or the same SIRET without an id, gives the existing one."""
    fields = body.model_dump()
    fields["centre_id"] = fields["centre_id"] or uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        if await catalogue.insert_centre(conn, fields):
            return await catalogue.get_centre(conn, fields["centre_id"]), True
        existing = await catalogue.get_centre(conn, fields["centre_id"])
        if existing is not None:
            return existing, False
        same_siret = await catalogue.find_centre_by_siret(conn, body.siret)
        if body.centre_id is None:
            return same_siret, False
        raise SiretTaken(f"SIRET {body.siret} is already registered as centre {same_siret['centre_id']}")


async def register_programme(pool: asyncpg.Pool, body: ProgrammeIn) -> tuple[dict, bool]:
    """Create a programme and its first session; with a known programme_id, return the existing one."""
    programme_id = body.programme_id or uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        existing = await catalogue.get_programme(conn, programme_id)
        if existing is not None:
            return existing, False
        row = await catalogue.get_centre(conn, body.centre_id)
        centre = domain.Centre(row["name"], row["region"], row["departement"]) if row else None
        place = domain.programme_place(centre, body.centre_name, body.region, body.departement)
        fields = body.model_dump() | {"programme_id": programme_id, "centre_name": place.centre_name,
                                      "region": place.region, "departement": place.departement}
        if not await catalogue.insert_programme(conn, fields):
            return await catalogue.get_programme(conn, programme_id), False  # created meanwhile
        session_id = domain.first_session_id(programme_id)
        end_date = body.end_date or add_months(body.start_date, body.duration_months)
        await catalogue.insert_session(conn, session_id, programme_id, body.start_date, end_date, body.capacity)
        now = _now()
        data = {k: fields[k] for k in ("centre_id", "centre_name", "title", "region", "job_family",
                                       "duration_months", "capacity", "start_date", "mode", "funding_line",
                                       "departement", "rncp", "label_year")}
        await add_events(conn, [
            ProgrammeRegistered.build(event_id=uuid.uuid4(), occurred_at=now, recorded_at=now,
                                      producer=PRODUCER, programme_id=programme_id, data=data),
            _session_scheduled(programme_id, session_id, body.start_date, end_date, body.capacity, now),
        ])
        return await catalogue.get_programme(conn, programme_id), True


async def schedule_session(pool: asyncpg.Pool, programme_id: uuid.UUID, body: SessionIn) -> tuple[dict, bool]:
    """Add a session to a programme; with a known session_id, return the existing one."""
    session_id = body.session_id or uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        if await catalogue.get_programme(conn, programme_id) is None:
            raise NotFound(f"programme {programme_id} does not exist")
        created = await catalogue.insert_session(conn, session_id, programme_id, body.start_date, body.end_date,
                                                 body.capacity)
        session = await catalogue.get_session(conn, session_id)
        if not created:
            if session["programme_id"] != programme_id:
                raise SessionTaken(f"session {session_id} belongs to another programme")
            return session, False
        await add_events(conn, [_session_scheduled(programme_id, session_id, body.start_date, body.end_date,
                                                   body.capacity, _now())])
        return session, True


class ModeTaken(domain.DomainError):
    code = "mode_change_exists"
    field = "effective_on"


async def change_mode(pool: asyncpg.Pool, programme_id: uuid.UUID, body: ModeChangeIn) -> tuple[list[dict], bool]:
    """Record that from `effective_on` the programme is delivered in `mode`; the same change again
    changes nothing, another mode on the same day is refused. Returns the programme's mode history."""
    async with pool.acquire() as conn, conn.transaction():
        if await catalogue.get_programme(conn, programme_id) is None:
            raise NotFound(f"programme {programme_id} does not exist")
        created = await catalogue.insert_mode(conn, programme_id, body.effective_on, body.mode)
        if not created:
            existing = await catalogue.mode_on(conn, programme_id, body.effective_on)
            if existing != body.mode:
                raise ModeTaken(f"a change to {existing} is already recorded from {body.effective_on}")
        else:
            now = _now()
            await add_events(conn, [ProgrammeModeChanged.build(
                event_id=uuid.uuid4(), occurred_at=civil_start(body.effective_on), recorded_at=now,
                producer=PRODUCER, programme_id=programme_id,
                data={"mode": body.mode, "effective_on": body.effective_on})])
        return await catalogue.modes(conn, programme_id), created


def _session_scheduled(programme_id, session_id, start_date, end_date, capacity, occurred_at):
    return SessionScheduled.build(
        event_id=uuid.uuid4(), occurred_at=occurred_at, recorded_at=_now(), producer=PRODUCER,
        programme_id=programme_id,
        data={"session_id": session_id, "start_date": start_date, "end_date": end_date, "capacity": capacity},
    )


async def create_missing_first_sessions(pool: asyncpg.Pool) -> int:
    """Give programmes registered before sessions existed their first session (see migration 0002).

    Run at start-up; idempotent, and safe with several instances starting together: a session
    inserted by another instance is skipped, with its event.
    """
    async with pool.acquire() as conn, conn.transaction():
        missing = await catalogue.programmes_without_session(conn)
        events, programme_ids, session_ids = [], [], []
        for p in missing:
            session_id = domain.first_session_id(p["programme_id"])
            end_date = add_months(p["start_date"], p["duration_months"])
            if await catalogue.insert_session(conn, session_id, p["programme_id"], p["start_date"], end_date,
                                              p["capacity"]):
                events.append(_session_scheduled(p["programme_id"], session_id, p["start_date"], end_date,
                                                 p["capacity"], p["created_at"]))
            programme_ids.append(p["programme_id"])
            session_ids.append(session_id)
        if programme_ids:
            await store.set_missing_sessions(conn, programme_ids, session_ids)
        return await add_events(conn, events)


# --- applications -------------------------------------------------------------------


def _session_id(body: ApplicationIn) -> uuid.UUID:
    return body.session_id or domain.first_session_id(body.programme_id)


async def submit_application(conn: asyncpg.Connection, body: ApplicationIn, actor: str) -> tuple[dict, bool]:
    """Record an application; the same person applying again to the same session gets the first one."""
    [outcome] = await submit_applications(conn, [body], actor)
    if isinstance(outcome, domain.DomainError):
        raise outcome
    return outcome["application"], outcome["created"]


async def submit_applications(
    conn: asyncpg.Connection, bodies: list[ApplicationIn], actor: str
) -> list[dict | domain.DomainError]:
    """Record applications in the order given, each as if submitted alone.

    One outcome per application: its refusal, or {"application": ..., "created": ...}. The same
    person applying again to the same session, earlier in the batch or before it, gets the first
    application with created False. Set-based: the catalogue is read in two statements, the
    candidates, applications, submissions and events written in four (and the first applications
    of repeated ones read in one), whatever the number of applications. A refused application
    leaves nothing behind.
    """
    refusals = await _catalogue_refusals(conn, bodies)
    accepted = [body for body, refusal in zip(bodies, refusals, strict=True) if refusal is None]
    learners = await store.upsert_candidates(conn, _candidates(accepted))
    keys = [None if refusal is not None else (learners[body.candidate.email], _session_id(body))
            for body, refusal in zip(bodies, refusals, strict=True)]
    firsts = _firsts(keys)
    stored, created = await _store_applications(conn, bodies, firsts)
    new = [(stored[key], bodies[index]) for key, index in firsts.items() if key in created]
    await store.record_submissions(conn, [(a["application_id"], body.submitted_at) for a, body in new], actor)
    recorded_at = _now()
    await add_events(conn, [_submitted(a, body, recorded_at) for a, body in new])
    outcomes: list[dict | domain.DomainError] = []
    for index, (refusal, key) in enumerate(zip(refusals, keys, strict=True)):
        if refusal is not None:
            outcomes.append(refusal)
        else:
            outcomes.append({"application": dict(stored[key]), "created": key in created and firsts[key] == index})
    return outcomes


def _firsts(keys: list[tuple | None]) -> dict[tuple, int]:
    """(learner_id, session_id) -> the index of its first application in the batch, in batch order.

    Only that one is inserted: a later one is the same person applying again.
    """
    firsts: dict[tuple, int] = {}
    for index, key in enumerate(keys):
        if key is not None:
            firsts.setdefault(key, index)
    return firsts


async def _store_applications(conn, bodies: list[ApplicationIn], firsts: dict[tuple, int]) -> tuple[dict, set]:
    """The application of each (learner_id, session_id), and the keys of those inserted now."""
    rows = [_application_row(bodies[index], *key) for key, index in firsts.items()]
    stored = _by_key(await store.insert_applications(conn, rows))
    created = set(stored)
    stored |= _by_key(await store.find_applications(conn, [key for key in firsts if key not in created]))
    return stored, created


async def _catalogue_refusals(conn, bodies: list[ApplicationIn]) -> list[domain.DomainError | None]:
    programmes = await catalogue.known_programmes(conn, list({body.programme_id for body in bodies}))
    sessions = await catalogue.programmes_of_sessions(conn, list({_session_id(body) for body in bodies}))
    return [_catalogue_refusal(body, programmes, sessions) for body in bodies]


def _catalogue_refusal(body: ApplicationIn, programmes: set, sessions: dict) -> domain.DomainError | None:
    if body.programme_id not in programmes:
        return UnknownProgramme(f"programme {body.programme_id} does not exist")
    session_id = _session_id(body)
    if session_id not in sessions:
        return UnknownSession(f"session {session_id} does not exist")
    if sessions[session_id] != body.programme_id:
        return SessionNotInProgramme(f"session {session_id} is not a session of programme {body.programme_id}")
    return None


def _candidates(bodies: list[ApplicationIn]) -> list[dict]:
    """Each e-mail once, with its first application's birth year: what a candidate keeps (see store)."""
    candidates: dict[str, dict] = {}
    for body in bodies:
        c = body.candidate
        if c.email not in candidates:
            candidates[c.email] = {"learner_id": uuid.uuid4(), "email": c.email, "birth_year": c.birth_year}
    return list(candidates.values())


def _profile(body: ApplicationIn) -> CandidateProfile:
    c = body.candidate
    return CandidateProfile(
        gender=c.gender, education_level=c.education_level,
        age_band=domain.age_band(c.birth_year, civil_date(body.submitted_at).year),
        qpv=c.qpv, zrr=c.zrr, job_seeker=c.job_seeker, region=c.region,
    )


def _application_row(body: ApplicationIn, learner_id, session_id) -> dict:
    """The application with the contact details it recorded (its own copy: see store)."""
    c = body.candidate
    return {"application_id": uuid.uuid4(), "learner_id": learner_id, "programme_id": body.programme_id,
            "session_id": session_id, "submitted_at": body.submitted_at, **_profile(body).model_dump(),
            "first_name": domain.normalise_name(c.first_name), "last_name": domain.normalise_name(c.last_name),
            "email": c.email, "phone": c.phone, "referral_source": body.referral_source}


def _by_key(applications: list[dict]) -> dict[tuple, dict]:
    return {(a["learner_id"], a["session_id"]): a for a in applications}


def _submitted(application: dict, body: ApplicationIn, recorded_at: datetime):
    return ApplicationSubmitted.build(
        event_id=uuid.uuid4(), occurred_at=body.submitted_at, recorded_at=recorded_at, producer=PRODUCER,
        learner_id=application["learner_id"], programme_id=body.programme_id,
        correlation_id=application["application_id"],
        data={"application_id": application["application_id"], "session_id": application["session_id"],
              "profile": _profile(body), "referral_source": body.referral_source},
    )


# --- decisions ----------------------------------------------------------------------

# The decisions that can free an admitted place (domain.FREES_A_PLACE), for which a batch reads
# the session's waitlist.
_MAY_FREE_A_PLACE = frozenset(decision for _, decision in domain.FREES_A_PLACE)


async def decide_application(
    unit: Unit, application_id: uuid.UUID, body: DecisionIn, actor: str
) -> tuple[dict, bool, uuid.UUID | None]:
    """Apply a decision; returns (application, changed, the waitlisted application it admitted)."""
    item = DecisionItemIn(application_id=application_id, **body.model_dump())
    [outcome] = await decide_applications(unit, [item], actor)
    if isinstance(outcome, domain.DomainError):
        raise outcome
    return outcome["application"], outcome["changed"], outcome["promoted"]


async def decide_applications(unit: Unit, items: list[DecisionItemIn], actor: str) -> list[dict | domain.DomainError]:
    """Apply decisions in the order given, each as if posted alone.

    One outcome per decision: its refusal, or {"application": ..., "changed": ..., "promoted": ...},
    the application as this decision left it, whether it changed anything (repeating the current
    decision does not), and the waitlisted application it admitted, if any. Each decision sees the
    effects of the earlier ones: the places they took or freed, and the waitlisted candidates they
    promoted (admission.Admissions). Set-based: the sessions and applications are locked in two
    statements, the admitted counts and the waitlists of the sessions where a place may be freed
    read in two more, and the statuses, transitions and events written in three, whatever the
    number of decisions. A refused decision leaves nothing behind.
    """
    if not items:
        return []
    may_free = {item.application_id for item in items if item.decision in _MAY_FREE_A_PLACE}
    batch = await unit.admissions([item.application_id for item in items], may_free)
    outcomes: list[dict | domain.DomainError] = []
    for item in items:
        try:
            outcomes.append(batch.decide(item.application_id, item.decision, item.reason, item.decided_at, actor))
        except domain.DomainError as exc:
            outcomes.append(exc)
    await unit.save(batch)
    recorded_at = _now()
    await unit.add_events([_decided(application, recorded_at, band) for application, band in batch.decided])
    return outcomes


def _decided(application: dict, recorded_at: datetime, age_band_at_entry: str | None = None):
    return ApplicationDecidedV2.build(
        event_id=uuid.uuid4(), occurred_at=application["decided_at"], recorded_at=recorded_at, producer=PRODUCER,
        learner_id=application["learner_id"], programme_id=application["programme_id"],
        correlation_id=application["application_id"],
        data={"application_id": application["application_id"], "session_id": application["session_id"],
              "decision": application["status"], "reason": application["reason"],
              "age_band_at_entry": age_band_at_entry},
    )


async def erase_learner(conn: asyncpg.Connection, learner_id: uuid.UUID) -> dict:
    """Remove a learner's personal data (GDPR erasure) and tell every service, which removes theirs.

    Repeating it is harmless. The pseudonymous facts stay, so the key figures do not move.
    """
    now = _now()
    outcome = await store.erase_candidate(conn, learner_id)
    if outcome == "unknown":
        raise NotFound(f"no learner {learner_id}")
    await record_erasure(conn, learner_id, now)
    if outcome == "erased":
        await erase_kept_copies(conn, learner_id)
        await add_events(conn, [LearnerErased.build(event_id=uuid.uuid4(), occurred_at=now, recorded_at=now,
                                                    producer=PRODUCER, learner_id=learner_id)])
    return {"learner_id": learner_id, "result": "erased" if outcome == "erased" else "already_erased"}


async def erase(conn: asyncpg.Connection, learner_id: uuid.UUID, erased_at) -> int:
    """An erasure from the tombstone list applied again (`parcours restore-check`, after a restore):
    what came back with the restored data goes, without a new event (the other services' databases
    are given the same list). Returns the rows changed: 0 when nothing had come back."""
    return await apply_erasure(conn, learner_id, erased_at, _erase_candidate)


async def _erase_candidate(conn: asyncpg.Connection, learner_id) -> int:
    """1 when the person's data was there again (restored with a backup), else 0."""
    return int(await store.erase_candidate(conn, learner_id) == "erased")


async def purge_expired_contacts(pool: asyncpg.Pool, retention_months: int, today: date | None = None) -> int:
    """Remove contact details kept longer than the retention period after the last follow-up closed."""
    today = today or civil_date(_now())
    months = today.year * 12 + today.month - 1 - retention_months
    cutoff = date(months // 12, months % 12 + 1, 1)
    async with pool.acquire() as conn, conn.transaction():
        return await store.purge_contacts(conn, cutoff)
