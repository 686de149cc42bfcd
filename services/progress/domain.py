"""The training state machine: admitted → started → (interrupted ⇄ resumed)* → exited.

Pure and synchronous. Facts carry the date they happened (`occurred_at`); a state change
must not be dated before the last one, and no fact fits before the start or after the exit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from shared.refusals import Invalid, Refusal


class DomainError(Refusal):
    code = "refused"


class NotAdmitted(DomainError, Invalid):
    code = "not_admitted"


class InvalidTransition(DomainError):
    code = "invalid_transition"


class OutOfOrder(DomainError):
    code = "out_of_order"


class AmbiguousEnrolment(DomainError):
    code = "ambiguous_enrolment"


@dataclass(frozen=True)
class Enrolment:
    state: str  # admitted | started | interrupted | exited | withdrawn | no_show
    started_at: datetime | None = None
    exited_at: datetime | None = None
    last_change_at: datetime | None = None
    exit_reason: str | None = None
    attendance_hours: float = 0.0
    dropout_cause: str | None = None
    last_fact_at: datetime | None = None


@dataclass(frozen=True)
class Fact:
    """A posted fact, as far as the state machine is concerned."""

    type: str
    occurred_at: datetime
    hours: float = 0.0
    exit_reason: str | None = None
    dropout_cause: str | None = None


def is_late(e: Enrolment, at: datetime) -> bool:
    """A fact dated before one already applied must be placed where it belongs."""
    return e.last_fact_at is not None and at < e.last_fact_at


def place_record(e: Enrolment, fact: str, at: datetime, hours: float = 0.0) -> Enrolment:
    """A late attendance or milestone placed at its date, without replaying the history: it changes
    no state, so it fits wherever the enrolment had started by then and not yet left, which the
    enrolment as it stands says (its start and its exit are those of every fact replayed). The
    same answer as `replay` with the fact added, at a cost that does not grow with the history
    (a test holds the two to each other)."""
    if e.state in NEVER_STARTED or e.started_at is None:
        raise InvalidTransition(why_not(e.state, fact))
    if at < e.started_at:
        raise OutOfOrder(f"{fact} dated {at.isoformat()} is before the start ({e.started_at.isoformat()})")
    if e.exited_at is not None and at > e.exited_at:
        raise OutOfOrder(f"{fact} dated {at.isoformat()} is after the exit ({e.exited_at.isoformat()})")
    return replace(e, attendance_hours=e.attendance_hours + hours)


def replay(facts: Iterable[Fact]) -> Enrolment:
    """The enrolment that an admitted learner's facts, taken in date order, lead to.

    Raises the DomainError of the first fact that cannot fit, which explains the refusal of a
    late fact or of a correction. `sorted` is stable: facts dated the same instant keep the
    order they arrived in.
    """
    ordered = sorted(facts, key=lambda f: f.occurred_at)
    starts = [f.occurred_at for f in ordered if f.type == "started"]
    if starts and ordered[0].type != "started":
        first = ordered[0]
        raise OutOfOrder(f"{first.type} dated {first.occurred_at.isoformat()} is before the start "
                         f"({starts[0].isoformat()})")
    e = Enrolment("admitted")
    for fact in ordered:
        e = apply_fact(e, fact.type, fact.occurred_at, fact.hours, fact.exit_reason, fact.dropout_cause)
    return e


# States in which an enrolment takes no more facts of its own: withdrawn and no-show never started.
NEVER_STARTED = frozenset({"withdrawn", "no_show"})


# The state a fact leads to, from the state it finds; a pair not listed is refused (WHY_NOT says why).
TRANSITIONS: dict[tuple[str, str], str] = {
    ("admitted", "started"): "started",
    ("started", "interrupted"): "interrupted",
    ("interrupted", "resumed"): "started",
    ("started", "exited"): "exited",
    ("interrupted", "exited"): "exited",
}
# Facts that change no state: taken from the start to the exit date, whatever came between.
RECORDS = frozenset({"attendance", "milestone"})
# Why a (state, fact) pair is refused, the most specific first: (state, fact), then ("*", fact),
# then (state, "*").
WHY_NOT: dict[tuple[str, str], str] = {
    ("withdrawn", "*"): "the admission was withdrawn: this learner cannot have training facts",
    ("no_show", "*"): "the learner was recorded as a no-show: no training facts",
    ("*", "started"): "the training already started (state: {state})",
    ("admitted", "*"): "a {fact} fact needs the training to have started first",
    ("exited", "*"): "the learner already left the training: no {fact} after the exit",
    ("interrupted", "interrupted"): "the training is already interrupted",
    ("started", "resumed"): "only an interrupted training can resume",
}


def why_not(state: str, fact: str) -> str:
    for key in ((state, fact), ("*", fact), (state, "*")):
        if key in WHY_NOT:
            return WHY_NOT[key].format(state=state, fact=fact)
    return f"unknown fact type {fact!r}"


def apply_fact(e: Enrolment, fact: str, at: datetime, hours: float = 0.0,
               exit_reason: str | None = None, dropout_cause: str | None = None) -> Enrolment:
    """Return the enrolment after `fact`, or raise a DomainError saying why it cannot fit."""
    # One replace() per fact, with the latest date seen: this runs for every fact of every batch.
    last = at if e.last_fact_at is None else max(e.last_fact_at, at)
    if e.state in NEVER_STARTED:
        raise InvalidTransition(why_not(e.state, fact))
    if e.started_at is not None and fact != "started" and at < e.started_at:
        raise OutOfOrder(f"{fact} dated {at.isoformat()} is before the start ({e.started_at.isoformat()})")
    if fact in RECORDS:
        if e.started_at is None:
            raise InvalidTransition(why_not(e.state, fact))
        if e.exited_at is not None and at > e.exited_at:
            raise OutOfOrder(f"{fact} dated {at.isoformat()} is after the exit ({e.exited_at.isoformat()})")
        return replace(e, attendance_hours=e.attendance_hours + hours, last_fact_at=last)
    after = TRANSITIONS.get((e.state, fact))
    if after is None:
        raise InvalidTransition(why_not(e.state, fact))
    if e.last_change_at is not None and at < e.last_change_at:
        raise OutOfOrder(
            f"{fact} dated {at.isoformat()} is before the last change of state ({e.last_change_at.isoformat()})"
        )
    if fact == "started":
        return replace(e, state=after, started_at=at, last_change_at=at, last_fact_at=last)
    if fact == "exited":
        return replace(e, state=after, exited_at=at, last_change_at=at, exit_reason=exit_reason,
                       dropout_cause=dropout_cause, last_fact_at=last)
    return replace(e, state=after, last_change_at=at, last_fact_at=last)


def on_decision(e: Enrolment | None, decision: str) -> Enrolment | None:
    """What an admission decision does to the enrolment (None: nothing to store)."""
    if decision == "admitted":
        return e if e is not None else Enrolment(state="admitted")
    if decision in ("withdrawn", "no_show") and e is not None and e.state == "admitted":
        return replace(e, state=decision)
    return None


# --- which enrolment a fact belongs to -------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """One of a learner's enrolments in a programme, as a fact without an enrolment id may mean it."""

    enrolment_id: UUID
    application_id: UUID | None
    enrolment: Enrolment


def resolve(candidates: list[Candidate], fact: str, at: datetime, enrolment_id: UUID | None = None,
            application_id: UUID | None = None) -> UUID:
    """The enrolment a fact belongs to: the one named, else the learner's only enrolment in the
    programme that the fact fits (a start: one not started yet; any other fact: one whose training
    spans its date). Raises NotAdmitted when there is none, AmbiguousEnrolment when several fit."""
    if enrolment_id is not None or application_id is not None:
        for c in candidates:
            if enrolment_id in (None, c.enrolment_id) and application_id in (None, c.application_id):
                return c.enrolment_id
        named = f"enrolment {enrolment_id}" if enrolment_id else f"application {application_id}"
        raise NotAdmitted(f"{named} is not an enrolment of this learner in this programme")
    if len(candidates) == 1:
        return candidates[0].enrolment_id
    if not candidates:
        raise NotAdmitted("this learner was never admitted to this programme")
    fitting = [c for c in candidates if _fits(c.enrolment, fact, at)]
    if len(fitting) == 1:
        return fitting[0].enrolment_id
    listed = ", ".join(f"{c.enrolment_id} ({c.enrolment.state})" for c in fitting or candidates)
    raise AmbiguousEnrolment(f"this learner has {len(candidates)} enrolments in this programme and the {fact} fact "
                             f"could belong to {'several' if fitting else 'none'} of them: {listed}; "
                             "give enrolment_id")


def _fits(e: Enrolment, fact: str, at: datetime) -> bool:
    if e.state in NEVER_STARTED:
        return False
    if fact == "started":
        return e.state == "admitted"
    if e.started_at is None or at < e.started_at:
        return False
    return e.exited_at is None or at <= e.exited_at
