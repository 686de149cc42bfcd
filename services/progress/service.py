"""Progress's use cases: facts posted by the centres, and their corrections."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from pydantic import ValidationError

from services.progress import domain
from services.progress.schemas import CorrectionIn, FactIn
from services.progress.store import Identity
from services.progress.unit import Unit
from shared.contracts import (
    TrainingAttendanceV2,
    TrainingCorrectedV2,
    TrainingExitedV2,
    TrainingInterruptedV2,
    TrainingMilestoneV2,
    TrainingResumedV2,
    TrainingStartedV2,
)
from shared.refusals import Invalid, Missing

PRODUCER = "progress"
# Training events name their enrolment (v2): a v1 consumer keys a learner's training by programme.
EVENT_CLASS = {
    "started": TrainingStartedV2,
    "attendance": TrainingAttendanceV2,
    "milestone": TrainingMilestoneV2,
    "interrupted": TrainingInterruptedV2,
    "resumed": TrainingResumedV2,
    "exited": TrainingExitedV2,
}
# Fields added to FactIn after facts were first stored: left out of the body hash while unset, so
# that a retry of a fact posted before them is still recognised as the same fact.
_LATER_FIELDS = ("enrolment_id", "application_id", "transfer_to_programme_id")
TRANSFER_NAMESPACE = uuid.UUID("0f1e2d3c-4b5a-4968-8776-655443322110")


class IdempotencyConflict(domain.DomainError):
    code = "idempotency_conflict"


class UnknownFact(domain.DomainError, Missing):
    code = "not_found"


class AlreadyVoided(domain.DomainError):
    code = "already_voided"


IDEMPOTENCY_NAMESPACE = uuid.UUID("5d1f6e0c-7c1a-4b9e-9b8e-6f3c2a1d0e9f")


def idempotency_id(key: str, holder: object = None) -> uuid.UUID:
    """An `Idempotency-Key` header as the id of what it creates: a UUID is the client's own id; any
    other string is the holder's (a centre, or a key without one), so that two centres numbering
    their lines alike never meet."""
    try:
        return uuid.UUID(key)
    except ValueError:
        return uuid.uuid5(IDEMPOTENCY_NAMESPACE, key if holder is None else f"{holder}:{key}")


def _fact_data(fact: FactIn) -> dict:
    if fact.type == "attendance":
        return {"hours": fact.hours}
    if fact.type == "milestone":
        return {"milestone": fact.milestone}
    if fact.type == "interrupted":
        return {"reason": fact.reason}
    if fact.type == "exited":
        data = {"reason": fact.exit_reason, "dropout_cause": fact.dropout_cause}
        if fact.transfer_to_programme_id is not None:
            data["transfer_to_programme_id"] = str(fact.transfer_to_programme_id)
        return data
    return {}


def _body_hash(fact: FactIn) -> str:
    unset = {name for name in _LATER_FIELDS if getattr(fact, name) is None}
    return hashlib.sha256(fact.model_dump_json(exclude={"event_id", *unset}).encode()).hexdigest()


def _as_fact(fact_type: str, occurred_at, data: dict) -> domain.Fact:
    return domain.Fact(fact_type, occurred_at, data.get("hours") or 0.0,
                       data.get("reason") if fact_type == "exited" else None, data.get("dropout_cause"))


async def post_fact(unit: Unit, fact: FactIn) -> dict:
    """Apply one training fact and queue its event. Raises a DomainError when it cannot fit."""
    [result] = await post_facts(unit, [fact])
    if isinstance(result, BaseException):
        raise result
    return result


class _Batch:
    """The enrolments a batch of facts touches, as the facts before each one left them."""

    def __init__(self, unit: Unit, locked: dict[uuid.UUID, tuple[Identity, domain.Enrolment]]) -> None:
        self.unit = unit
        self.identity: dict[uuid.UUID, Identity] = {key: i for key, (i, _) in locked.items()}
        self.enrolments: dict[uuid.UUID, domain.Enrolment] = {key: e for key, (_, e) in locked.items()}
        self._of_pair: dict[tuple, list[uuid.UUID]] = {}
        for key, identity in self.identity.items():
            self._of_pair.setdefault((identity.learner_id, identity.programme_id), []).append(key)
        self.changed: dict[uuid.UUID, domain.Enrolment] = {}
        self.created: dict[uuid.UUID, datetime] = {}  # enrolments opened by a transfer -> when
        self._history: dict[uuid.UUID, list[domain.Fact]] = {}
        self._applied: dict[uuid.UUID, list[domain.Fact]] = {}

    def resolve(self, fact: FactIn) -> uuid.UUID:
        """The enrolment the fact belongs to (domain.resolve), as the batch's earlier facts left them."""
        keys = self._of_pair.get((fact.learner_id, fact.programme_id), ())
        if len(keys) == 1 and fact.enrolment_id is None and fact.application_id is None:
            return keys[0]  # the learner's only enrolment there: what domain.resolve answers, without its cost
        candidates = [domain.Candidate(key, self.identity[key].application_id, self.enrolments[key]) for key in keys]
        return domain.resolve(candidates, fact.type, fact.occurred_at, fact.enrolment_id, fact.application_id)

    async def prefetch(self, facts: list[FactIn]) -> None:
        """Read at once the stored history of every enrolment a fact of this batch comes late to
        (dated before one already applied or before an earlier fact of the batch): one statement
        for the batch instead of one per late enrolment. A fact whose enrolment cannot be told yet
        is left to `history`, which reads it if needed."""
        latest: dict[uuid.UUID, datetime | None] = {}
        late: set[uuid.UUID] = set()
        for fact in facts:
            try:
                key = self.resolve(fact)
            except domain.DomainError:
                continue
            if key not in latest:
                latest[key] = self.enrolments[key].last_fact_at
            last = latest[key]
            if last is not None and fact.occurred_at < last:
                if fact.type not in domain.RECORDS:  # a late record needs no history (place_record)
                    late.add(key)
            else:
                latest[key] = fact.occurred_at
        self._history.update(await self.unit.histories(list(late - self._history.keys())))

    async def history(self, key: uuid.UUID) -> list[domain.Fact]:
        """The enrolment's active facts: stored ones (read once) and those applied earlier in this batch."""
        if key not in self._history:
            self._history.update(await self.unit.histories([key]))
        return [*self._history[key], *self._applied.get(key, [])]

    def applied(self, key: uuid.UUID, fact: domain.Fact, after: domain.Enrolment) -> None:
        self.enrolments[key] = self.changed[key] = after
        self._applied.setdefault(key, []).append(fact)

    def open_transfer(self, source: uuid.UUID, programme_id: uuid.UUID, at: datetime) -> Identity:
        """The enrolment a transfer continues in: started at the transfer, linked to the one it left.
        Its id follows from the source and the destination, so that a retried transfer opens no other."""
        left = self.identity[source]
        key = uuid.uuid5(TRANSFER_NAMESPACE, f"{source}:{programme_id}")
        identity = Identity(key, left.learner_id, programme_id, transferred_from=source)
        started = domain.apply_fact(domain.Enrolment("admitted"), "started", at)
        if key not in self.identity:
            self.identity[key] = identity
            self.enrolments[key] = started
            self._of_pair.setdefault((left.learner_id, programme_id), []).append(key)
            self._history[key] = []
            self.created[key] = at
        self._applied.setdefault(key, []).append(domain.Fact("started", at))
        return identity


async def post_facts(unit: Unit, facts: list[FactIn]) -> list[dict | domain.DomainError]:
    """Apply training facts in the order given, each as if posted alone; one result or refusal per fact.

    Set-based: every enrolment of the learners and programmes named is read and locked in one
    statement, the facts, enrolments and events written in a few, whatever the number of facts.
    Each fact goes to the enrolment it names, or to the one it fits (domain.resolve). A fact dated
    after every fact already applied is applied directly; a late one is placed at its date by
    replaying the enrolment's facts in date order, and refused with the reason of the first fact
    that no longer fits. A refused fact leaves nothing behind. A transfer opens the enrolment the
    learner continues in.
    """
    named = await _with_learners(unit, facts)
    facts = [f for f in named if isinstance(f, FactIn)]
    batch = _Batch(unit, await unit.get_many(_pairs(facts)))
    await batch.prefetch(facts)
    known = await unit.known_facts([f.event_id for f in facts if f.event_id is not None])
    programmes = await unit.programmes(list({f.transfer_to_programme_id for f in facts
                                              if f.transfer_to_programme_id}))
    results: list[dict | domain.DomainError] = []
    rows, events = [], []
    now = datetime.now(UTC)
    for fact in named:
        if isinstance(fact, domain.DomainError):
            results.append(fact)
            continue
        body_hash = _body_hash(fact)
        if fact.event_id is not None and fact.event_id in known:
            results.append(_repeated(batch, fact, known[fact.event_id], body_hash))
            continue
        try:
            key = batch.resolve(fact)
            if fact.transfer_to_programme_id is not None and fact.transfer_to_programme_id not in programmes:
                raise UnknownProgramme(f"transfer_to_programme_id {fact.transfer_to_programme_id} is not a programme "
                                       "of the network")
            result, after, data = await _place(batch, key, fact)
        except domain.DomainError as exc:
            results.append(exc)
            continue
        event_id = fact.event_id or uuid.uuid4()
        known[event_id] = (body_hash, key)  # a second copy later in the batch is a duplicate
        batch.applied(key, _as_fact(fact.type, fact.occurred_at, data), after)
        identity = batch.identity[key]
        rows.append((event_id, key, fact.learner_id, fact.programme_id, fact.type, fact.occurred_at, data, body_hash))
        if fact.transfer_to_programme_id is not None:
            continued = batch.open_transfer(key, fact.transfer_to_programme_id, fact.occurred_at)
            data = {**data, "transfer_to_enrolment_id": continued.enrolment_id}
            start_id = uuid.uuid5(TRANSFER_NAMESPACE, str(event_id))
            rows.append((start_id, continued.enrolment_id, fact.learner_id, continued.programme_id, "started",
                         fact.occurred_at, {"transferred_from": str(key)}, body_hash))
            events.append(_event(fact.type, event_id, fact.occurred_at, now, identity, data))
            events.append(_event("started", start_id, fact.occurred_at, now, continued,
                                 {"transferred_from": key}))
        else:
            events.append(_event(fact.type, event_id, fact.occurred_at, now, identity, data))
        results.append({"event_id": event_id, "enrolment_id": key, **result})
    opened = [(batch.identity[k], batch.enrolments[k], at) for k, at in batch.created.items()]
    await unit.save_many(opened, {k: e for k, e in batch.changed.items() if k not in batch.created})
    await unit.add_facts(rows)
    await unit.add_events(events)
    return results


def _pairs(facts: list[FactIn]) -> set[tuple]:
    """The (learner, programme) pairs whose enrolments a batch may touch: a transfer's destination too."""
    pairs = {(f.learner_id, f.programme_id) for f in facts}
    return pairs | {(f.learner_id, f.transfer_to_programme_id) for f in facts if f.transfer_to_programme_id}


async def _with_learners(unit: Unit, facts: list[FactIn]) -> list[FactIn | domain.DomainError]:
    """Each fact with its learner: a centre names the enrolment (or its admitted application) and
    never needs the network-wide learner id. One that names no enrolment is refused as a fact naming
    an enrolment of another learner or programme is (domain.resolve), saying nothing of which."""
    ids = [f.enrolment_id or f.application_id for f in facts if f.learner_id is None]
    learners = await unit.learners_of(ids) if ids else {}
    named: list[FactIn | domain.DomainError] = []
    for fact in facts:
        if fact.learner_id is not None:
            named.append(fact)
            continue
        learner_id = learners.get(fact.enrolment_id or fact.application_id)
        if learner_id is None:
            what = f"enrolment {fact.enrolment_id}" if fact.enrolment_id else f"application {fact.application_id}"
            named.append(domain.NotAdmitted(f"{what} is not an enrolment of this learner in this programme"))
        else:
            named.append(fact.model_copy(update={"learner_id": learner_id}))
    return named


def _repeated(batch: _Batch, fact: FactIn, stored: tuple, body_hash: str) -> dict | domain.DomainError:
    """A fact posted again with its event_id: the first result, or a conflict if the body differs."""
    stored_hash, enrolment_id = stored
    if stored_hash != body_hash:
        return IdempotencyConflict(f"event_id {fact.event_id} was already used for another fact")
    current = batch.enrolments.get(enrolment_id)
    return {"event_id": fact.event_id, "result": "duplicate", "enrolment_id": enrolment_id,
            "state": current.state if current else None}


def _event(fact_type: str, event_id: uuid.UUID, occurred_at: datetime, now: datetime, identity: Identity,
           data: dict):
    return EVENT_CLASS[fact_type].build(
        event_id=event_id, occurred_at=occurred_at, recorded_at=now, producer=PRODUCER,
        learner_id=identity.learner_id, programme_id=identity.programme_id, correlation_id=identity.application_id,
        data={**data, "enrolment_id": identity.enrolment_id, "application_id": identity.application_id,
              "session_id": identity.session_id},
    )


async def _place(batch: _Batch, key: uuid.UUID, fact: FactIn) -> tuple[dict, domain.Enrolment, dict]:
    enrolment = batch.enrolments[key]
    data = _fact_data(fact)
    late = domain.is_late(enrolment, fact.occurred_at)
    if late and fact.type in domain.RECORDS:
        try:  # no replay: its cost would grow with the history (an LMS sending a backlog)
            after = domain.place_record(enrolment, fact.type, fact.occurred_at, fact.hours or 0.0)
        except domain.DomainError as exc:
            raise type(exc)(f"placed at its date ({fact.occurred_at.isoformat()}), this fact does not fit: {exc}") \
                from None
    elif late and enrolment.state not in domain.NEVER_STARTED:
        after = _replay([*await batch.history(key), _as_fact(fact.type, fact.occurred_at, data)],
                        f"placed at its date ({fact.occurred_at.isoformat()}), this fact does not fit")
    else:
        after = domain.apply_fact(enrolment, fact.type, fact.occurred_at, fact.hours or 0.0, fact.exit_reason,
                                  fact.dropout_cause)
    return {"result": "applied", "state": after.state, "placed": "late" if late else "in_order"}, after, data


def _amended(row: dict, body: CorrectionIn) -> tuple[datetime, dict]:
    """The fact's date and values after an amendment, validated like a newly posted fact."""
    data = dict(row["data"])
    fact_type = row["fact_type"]
    if fact_type == "exited":
        data.update({k: v for k, v in (("reason", body.exit_reason), ("dropout_cause", body.dropout_cause))
                     if v is not None})
        if data.get("reason") != "dropped_out":
            data["dropout_cause"] = None
    else:
        data.update({k: v for k, v in (("hours", body.hours), ("milestone", body.milestone),
                                        ("reason", body.reason)) if v is not None})
    occurred_at = body.occurred_at or row["occurred_at"]
    FactIn(learner_id=row["learner_id"], programme_id=row["programme_id"], type=fact_type, occurred_at=occurred_at,
           hours=data.get("hours"), milestone=data.get("milestone"),
           reason=data.get("reason") if fact_type == "interrupted" else None,
           exit_reason=data.get("reason") if fact_type == "exited" else None,
           dropout_cause=data.get("dropout_cause"))
    return occurred_at, {k: v for k, v in data.items() if k in _fact_keys(fact_type)}


def _fact_keys(fact_type: str) -> tuple[str, ...]:
    return {"attendance": ("hours",), "milestone": ("milestone",), "interrupted": ("reason",),
            "exited": ("reason", "dropout_cause")}.get(fact_type, ())


async def correct_fact(unit: Unit, event_id: uuid.UUID, body: CorrectionIn,
                       correction_id: uuid.UUID | None = None) -> dict:
    """Void or amend a posted fact; the enrolment is recomputed from the corrected history and a
    `training.corrected` event carries the result downstream."""
    correction_id = correction_id or uuid.uuid4()
    body_hash = hashlib.sha256(f"{event_id}:{body.model_dump_json()}".encode()).hexdigest()
    seen = await unit.get_correction(correction_id)
    if seen is not None:
        if seen["body_hash"] != body_hash:
            raise IdempotencyConflict(f"correction {correction_id} was already used for another correction")
        return {**seen["result"], "result": "duplicate"}
    row = await unit.get_fact(event_id)
    if row is None:
        raise UnknownFact(f"no fact {event_id}")
    if row["voided_at"] is not None:
        raise AlreadyVoided(f"fact {event_id} was already voided")
    identity, _ = await unit.get_one(row["enrolment_id"])
    occurred_at, data, after = await _corrected(unit, identity.enrolment_id, row, body)
    await unit.save_many([], {identity.enrolment_id: after})
    await unit.correct(event_id, occurred_at, data)
    await unit.add_events([_correction_event(correction_id, event_id, identity, row["fact_type"], body.action, after)])
    result = {"correction_id": str(correction_id), "event_id": str(event_id), "action": body.action,
              "result": "applied", "state": after.state, "enrolment_id": str(identity.enrolment_id)}
    before = {"occurred_at": row["occurred_at"].isoformat(), "data": row["data"]}
    after_row = None if data is None else {"occurred_at": occurred_at.isoformat(), "data": data}
    await unit.add_correction(correction_id, event_id, body.action, body_hash, before, after_row, result)
    return result


async def _corrected(unit: Unit, enrolment_id: uuid.UUID, row: dict, body: CorrectionIn):
    """The fact's new date and values (None, None for a void) and the enrolment its corrected history
    leads to; raises the DomainError of the first fact that would no longer fit."""
    history = await unit.active_facts(enrolment_id)
    event_id = row["event_id"]
    if body.action == "void":
        occurred_at, data = None, None
        facts = [_as_fact(f["fact_type"], f["occurred_at"], f["data"]) for f in history if f["event_id"] != event_id]
    else:
        try:
            occurred_at, data = _amended(row, body)
        except ValidationError as exc:
            raise InvalidAmendment("; ".join(e["msg"] for e in exc.errors())) from None
        facts = [_as_fact(f["fact_type"], occurred_at, data) if f["event_id"] == event_id
                 else _as_fact(f["fact_type"], f["occurred_at"], f["data"]) for f in history]
    after = _replay(facts, "after this correction the history would not hold") if facts \
        else domain.Enrolment("admitted")
    return occurred_at, data, after


def _correction_event(correction_id: uuid.UUID, event_id: uuid.UUID, identity: Identity, fact_type: str,
                      action: str, after: domain.Enrolment):
    now = datetime.now(UTC)
    return TrainingCorrectedV2.build(
        event_id=correction_id, occurred_at=now, recorded_at=now, producer=PRODUCER, learner_id=identity.learner_id,
        programme_id=identity.programme_id, correlation_id=identity.application_id, data={
            "corrected_event_id": event_id, "action": action, "fact_type": fact_type,
            "state": after.state, "started_at": after.started_at, "exited_at": after.exited_at,
            "exit_reason": after.exit_reason, "dropout_cause": after.dropout_cause,
            "enrolment_id": identity.enrolment_id, "application_id": identity.application_id,
            "session_id": identity.session_id},
    )


def _replay(facts: list[domain.Fact], context: str) -> domain.Enrolment:
    try:
        return domain.replay(facts)
    except domain.DomainError as exc:
        raise type(exc)(f"{context}: {exc}") from None


class InvalidAmendment(domain.DomainError, Invalid):
    code = "invalid_amendment"


class UnknownProgramme(domain.DomainError, Invalid):
    code = "unknown_programme"
