"""Intake's decisions: application statuses, capacity and the waitlist, where a programme takes
place, and the codes and candidate attributes the indicators need.

Pure and synchronous: no I/O, no framework.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.intake import geography
from shared.contracts.calendar import civil_date
from shared.contracts.vocabulary import APPLICATION_STATUSES, DECISIONS_V2
from shared.refusals import Invalid, Refusal

STATUSES = APPLICATION_STATUSES
# What a centre can post about an application: every status but the first.
DECISIONS = frozenset(STATUSES) - {"submitted"}
# Decisions that the events carry (screening is internal to intake).
PUBLISHED = frozenset(DECISIONS_V2)

# Which decision may follow which status. `no_show` means admitted and never came.
ALLOWED = {
    "submitted": frozenset({"screened", "admitted", "waitlisted", "rejected", "withdrawn"}),
    "screened": frozenset({"admitted", "waitlisted", "rejected", "withdrawn"}),
    "waitlisted": frozenset({"admitted", "rejected", "withdrawn"}),
    "admitted": frozenset({"withdrawn", "no_show"}),
    "rejected": frozenset(),
    "withdrawn": frozenset(),
    "no_show": frozenset(),
}
# Decisions that say the admitted candidate never trained: after a start, only the centre's
# training facts can end the journey (domain.md §1).
CONTRADICT_A_START = frozenset({"withdrawn", "no_show"})
# Leaving these transitions frees an admitted place, which the first waitlisted candidate takes.
FREES_A_PLACE = frozenset({("admitted", "withdrawn"), ("admitted", "no_show")})

FIRST_SESSION = "first-session"


class DomainError(Refusal):
    """A refusal the user can act on; `field` names the input at fault when there is one."""

    code = "refused"
    field: str | None = None

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class InvalidTransition(DomainError):
    code = "invalid_transition"


class TrainingAlreadyStarted(DomainError):
    code = "training_started"


class CapacityReached(DomainError):
    code = "capacity_reached"


class DecisionNeedsReason(DomainError, Invalid):
    code = "reason_required"
    field = "reason"


class MissingField(DomainError, Invalid):
    code = "missing_field"


class CentreNameMismatch(DomainError, Invalid):
    code = "centre_name_mismatch"
    field = "centre_name"


class DepartementNotInRegion(DomainError, Invalid):
    code = "departement_not_in_region"
    field = "departement"


@dataclass(frozen=True)
class Decision:
    """The outcome of deciding: the new status (None when the decision was already taken), and
    whether it frees an admitted place."""

    status: str | None
    frees_place: bool = False


def decide(current: str, decision: str, reason: str | None, admitted: int, capacity: int,
           started_at: datetime | None = None) -> Decision:
    """Apply `decision` to an application in status `current`.

    `admitted` is the number of applications currently admitted to the session; `started_at`, when
    the admitted candidate's training started (as progress reported it). Repeating the decision an
    application already has is not an error (a client retry): nothing changes.
    """
    if decision == current:
        return Decision(None)
    if decision not in ALLOWED.get(current, frozenset()):
        raise InvalidTransition(f"an application that is {current} cannot become {decision}")
    if started_at is not None and decision in CONTRADICT_A_START:
        raise TrainingAlreadyStarted(
            f"the training started on {civil_date(started_at).isoformat()}: the admission can no longer be {decision}; "
            "the centre posts an exit (training fact) instead", field="decision")
    if decision == "rejected" and not reason:
        raise DecisionNeedsReason("a rejection needs a reason code")
    if decision == "admitted" and admitted >= capacity:
        raise CapacityReached(f"the session is full ({admitted} admitted of {capacity} places)")
    return Decision(decision, (current, decision) in FREES_A_PLACE)


def promotion(freed_at: datetime, waitlisted_at: datetime, admitted: int, capacity: int) -> datetime | None:
    """When the first waitlisted candidate of a session takes a freed place: the moment of the
    admission, or None when the session is still full.

    Never before the candidate was waitlisted, even if the place was freed with an earlier date.
    """
    if admitted >= capacity:
        return None
    return max(freed_at, waitlisted_at)


# --- the catalogue ----------------------------------------------------------------


@dataclass(frozen=True)
class Centre:
    name: str
    region: str
    departement: str


@dataclass(frozen=True)
class Place:
    """Who runs a programme and where."""

    centre_name: str
    region: str
    departement: str | None


def programme_place(
    centre: Centre | None, centre_name: str | None, region: str | None, departement: str | None
) -> Place:
    """Resolve a programme's centre name and territory against its registered centre, if any.

    A registered centre gives its name (a name given must be the same) and its region and
    département as defaults. A centre not registered (yet) must be named, and the region given.
    """
    if centre is None:
        if not centre_name:
            raise MissingField("the centre is not registered: centre_name is required", "centre_name")
        if not region:
            raise MissingField("the centre is not registered: region is required", "region")
        place = Place(centre_name, region, departement)
    else:
        if centre_name is not None and _same_name(centre_name) != _same_name(centre.name):
            raise CentreNameMismatch(
                f"centre_name {centre_name!r} is not the registered name of this centre ({centre.name!r})"
            )
        region = region or centre.region
        if departement is None and region == centre.region:
            departement = centre.departement
        place = Place(centre.name, region, departement)
    if place.departement is not None and geography.region_of(place.departement) != place.region:
        raise DepartementNotInRegion(
            f"département {place.departement} is not in region {place.region}"
        )
    return place


def _same_name(name: str) -> str:
    return normalise_name(name).casefold()


def first_session_id(programme_id: uuid.UUID) -> uuid.UUID:
    """The session a programme is created with: deterministic, so that a retry creates no other."""
    return uuid.uuid5(programme_id, FIRST_SESSION)


def siret_is_valid(siret: str) -> bool:
    """14 digits whose Luhn checksum holds (the SIREN's and the whole SIRET's check digit)."""
    if len(siret) != 14 or not siret.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(siret)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


# --- candidates -------------------------------------------------------------------


def age_band(birth_year: int, at_year: int) -> str:
    """Age band at entry from the birth year alone (the birth date stays in intake)."""
    age = at_year - birth_year
    if age < 26:
        return "under_26"
    if age < 45:
        return "26_44"
    return "45_plus"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_name(name: str) -> str:
    return " ".join(name.split())
