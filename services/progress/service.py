"""Progress's use cases: facts posted by the centres, and their corrections."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import asyncpg
from pydantic import ValidationError

from services.progress import domain, store
from services.progress.schemas import CorrectionIn, FactIn
from shared.contracts import (
    TrainingAttendance,
    TrainingCorrected,
    TrainingExited,
    TrainingInterrupted,
    TrainingMilestone,
    TrainingResumed,
    TrainingStarted,
)
from shared.plumbing.outbox import add_events

PRODUCER = "progress"
EVENT_CLASS = {
    "started": TrainingStarted,
    "attendance": TrainingAttendance,
    "milestone": TrainingMilestone,
    "interrupted": TrainingInterrupted,
    "resumed": TrainingResumed,
    "exited": TrainingExited,
}


class IdempotencyConflict(domain.DomainError):
    code = "idempotency_conflict"


class UnknownFact(domain.DomainError):
    status = 404
    code = "not_found"


class AlreadyVoided(domain.DomainError):
    code = "already_voided"


IDEMPOTENCY_NAMESPACE = uuid.UUID("5d1f6e0c-7c1a-4b9e-9b8e-6f3c2a1d0e9f")


def idempotency_id(key: str) -> uuid.UUID:
    """An `Idempotency-Key` header (any string) as the id of what it creates."""
    try:
        return uuid.UUID(key)
    except ValueError:
        return uuid.uuid5(IDEMPOTENCY_NAMESPACE, key)


def _fact_data(fact: FactIn) -> dict:
    if fact.type == "attendance":
        return {"hours": fact.hours}
    if fact.type == "milestone":
        return {"milestone": fact.milestone}
    if fact.type == "interrupted":
        return {"reason": fact.reason}
    if fact.type == "exited":
        return {"reason": fact.exit_reason, "dropout_cause": fact.dropout_cause}
    return {}


def _body_hash(fact: FactIn) -> str:
    return hashlib.sha256(fact.model_dump_json(exclude={"event_id"}).encode()).hexdigest()


def _as_fact(fact_type: str, occurred_at, data: dict) -> domain.Fact:
    return domain.Fact(fact_type, occurred_at, data.get("hours") or 0.0,
                       data.get("reason") if fact_type == "exited" else None, data.get("dropout_cause"))


async def post_fact(conn: asyncpg.Connection, fact: FactIn) -> dict:
    """Apply one training fact and queue its event. Raises a DomainError when it cannot fit."""
    [result] = await post_facts(conn, [fact])
    if isinstance(result, BaseException):
        raise result
    return result


class _Batch:
    """The enrolments a batch of facts touches, as the facts before each one left them."""

    def __init__(self, conn: asyncpg.Connection, enrolments: dict[tuple, domain.Enrolment]) -> None:
        self.conn = conn
        self.enrolments = enrolments
        self.changed: dict[tuple, domain.Enrolment] = {}
        self._history: dict[tuple, list[domain.Fact]] = {}
        self._applied: dict[tuple, list[domain.Fact]] = {}

    async def prefetch(self, facts: list[FactIn]) -> None:
        """Read at once the stored history of every enrolment a fact of this batch comes late to
        (dated before one already applied or before an earlier fact of the batch): one statement
        for the batch instead of one per late enrolment."""
        latest: dict[tuple, datetime | None] = {}
        late: set[tuple] = set()
        for fact in facts:
            key = (fact.learner_id, fact.programme_id)
            if key not in latest:
                enrolment = self.enrolments.get(key)
                latest[key] = enrolment.last_fact_at if enrolment is not None else None
            last = latest[key]
            if last is not None and fact.occurred_at < last:
                late.add(key)
            else:
                latest[key] = fact.occurred_at
        self._history.update(await store.active_facts_of(self.conn, list(late - self._history.keys())))

    async def history(self, key: tuple) -> list[domain.Fact]:
        """The enrolment's active facts: stored ones (read once) and those applied earlier in this batch."""
        if key not in self._history:
            self._history.update(await store.active_facts_of(self.conn, [key]))
        return [*self._history[key], *self._applied.get(key, [])]

    def applied(self, key: tuple, fact: domain.Fact, after: domain.Enrolment) -> None:
        self.enrolments[key] = self.changed[key] = after
        self._applied.setdefault(key, []).append(fact)


async def post_facts(conn: asyncpg.Connection, facts: list[FactIn]) -> list[dict | domain.DomainError]:
    """Apply training facts in the order given, each as if posted alone; one result or refusal per fact.

    Set-based: the enrolments are read and locked in one statement, the facts, enrolments and
    events written in three, whatever the number of facts. A fact dated after every fact already
    applied is applied directly; a late one is placed at its date by replaying the enrolment's
    facts in date order, and refused with the reason of the first fact that no longer fits. A
    refused fact leaves nothing behind.
    """
    batch = _Batch(conn, await store.lock_enrolments(conn, {(f.learner_id, f.programme_id) for f in facts}))
    await batch.prefetch(facts)
    known = await store.fact_hashes(conn, [f.event_id for f in facts if f.event_id is not None])
    results: list[dict | domain.DomainError] = []
    rows, events = [], []
    now = datetime.now(UTC)
    for fact in facts:
        key = (fact.learner_id, fact.programme_id)
        body_hash = _body_hash(fact)
        if fact.event_id is not None and fact.event_id in known:
            if known[fact.event_id] != body_hash:
                results.append(IdempotencyConflict(f"event_id {fact.event_id} was already used for another fact"))
            else:
                current = batch.enrolments.get(key)
                results.append({"event_id": fact.event_id, "result": "duplicate",
                                "state": current.state if current else None})
            continue
        try:
            result, after, data = await _place(batch, key, fact)
        except domain.DomainError as exc:
            results.append(exc)
            continue
        event_id = fact.event_id or uuid.uuid4()
        known[event_id] = body_hash  # a second copy later in the batch is a duplicate
        batch.applied(key, _as_fact(fact.type, fact.occurred_at, data), after)
        rows.append((event_id, fact.learner_id, fact.programme_id, fact.type, fact.occurred_at, data, body_hash))
        events.append(EVENT_CLASS[fact.type].build(
            event_id=event_id, occurred_at=fact.occurred_at, recorded_at=now, producer=PRODUCER,
            learner_id=fact.learner_id, programme_id=fact.programme_id, data=data,
        ))
        results.append({"event_id": event_id, **result})
    await store.save_enrolments(conn, batch.changed)
    await store.insert_facts(conn, rows)
    await add_events(conn, events)
    return results


async def _place(batch: _Batch, key: tuple, fact: FactIn) -> tuple[dict, domain.Enrolment, dict]:
    enrolment = batch.enrolments.get(key)
    if enrolment is None:
        raise domain.NotAdmitted(f"learner {fact.learner_id} was never admitted to programme {fact.programme_id}")
    data = _fact_data(fact)
    late = domain.is_late(enrolment, fact.occurred_at)
    if late and enrolment.state not in ("withdrawn", "no_show"):
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


async def correct_fact(conn: asyncpg.Connection, event_id: uuid.UUID, body: CorrectionIn,
                       correction_id: uuid.UUID | None = None) -> dict:
    """Void or amend a posted fact; the enrolment is recomputed from the corrected history and a
    `training.corrected` event carries the result downstream."""
    correction_id = correction_id or uuid.uuid4()
    body_hash = hashlib.sha256(f"{event_id}:{body.model_dump_json()}".encode()).hexdigest()
    seen = await store.get_correction(conn, correction_id)
    if seen is not None:
        if seen["body_hash"] != body_hash:
            raise IdempotencyConflict(f"correction {correction_id} was already used for another correction")
        return {**seen["result"], "result": "duplicate"}
    row = await store.get_fact(conn, event_id, for_update=True)
    if row is None:
        raise UnknownFact(f"no fact {event_id}")
    if row["voided_at"] is not None:
        raise AlreadyVoided(f"fact {event_id} was already voided")
    learner_id, programme_id = row["learner_id"], row["programme_id"]
    await store.get_enrolment(conn, learner_id, programme_id, for_update=True)
    history = await store.active_facts(conn, learner_id, programme_id)
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
    await store.save_enrolment(conn, learner_id, programme_id, after)
    if body.action == "void":
        await store.void_fact(conn, event_id)
    else:
        await store.amend_fact(conn, event_id, occurred_at, data)
    now = datetime.now(UTC)
    await add_events(conn, [TrainingCorrected.build(
        event_id=correction_id, occurred_at=now, recorded_at=now, producer=PRODUCER, learner_id=learner_id,
        programme_id=programme_id, data={
            "corrected_event_id": event_id, "action": body.action, "fact_type": row["fact_type"],
            "state": after.state, "started_at": after.started_at, "exited_at": after.exited_at,
            "exit_reason": after.exit_reason, "dropout_cause": after.dropout_cause},
    )])
    result = {"correction_id": str(correction_id), "event_id": str(event_id), "action": body.action,
              "result": "applied", "state": after.state}
    before = {"occurred_at": row["occurred_at"].isoformat(), "data": row["data"]}
    after_row = None if data is None else {"occurred_at": occurred_at.isoformat(), "data": data}
    await store.insert_correction(conn, correction_id, event_id, body.action, body_hash, before, after_row, result)
    return result


def _replay(facts: list[domain.Fact], context: str) -> domain.Enrolment:
    try:
        return domain.replay(facts)
    except domain.DomainError as exc:
        raise type(exc)(f"{context}: {exc}") from None


class InvalidAmendment(domain.DomainError):
    status = 422
    code = "invalid_amendment"
