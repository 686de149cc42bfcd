"""Follow-up dates, situations, and the indicators of the key figures (definitions v1).

Pure and synchronous. The definitions are those of the network's domain document §3–4;
a change of definition is a new version beside this one, never an edit of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.contracts.calendar import add_months
from shared.contracts.vocabulary import (
    CLOSED_STATUSES,
    EMPLOYMENT,
    EXEMPT_REASONS,
    FOLLOWED_UP_EXITS,
)
from shared.refusals import Invalid, Refusal

CLOSED = frozenset(CLOSED_STATUSES)


class DomainError(Refusal):
    code = "refused"


class ImpossibleTransition(DomainError):
    code = "impossible_transition"


class NotDue(DomainError):
    code = "not_due"


class FollowupClosed(DomainError):
    code = "followup_closed"


class NothingToCorrect(DomainError):
    code = "nothing_to_correct"


class AlreadyRecorded(DomainError):
    code = "already_recorded"


class InvalidOutcome(DomainError, Invalid):
    code = "invalid_outcome"


@dataclass(frozen=True)
class FollowupDates:
    exit_date: date
    observation_date: date
    window_start: date
    window_end: date


def followup_dates(exit_date: date, before: int = 1, after: int = 2) -> FollowupDates:
    observation = add_months(exit_date, 6)
    return FollowupDates(exit_date, observation, add_months(observation, -before), add_months(observation, after))


def opens_followup(exit_reason: str) -> bool:
    return exit_reason in FOLLOWED_UP_EXITS


def followup_status(stored: str, today: date, window_start: date, window_end: date) -> str:
    """The state a person sees: closed states are stored, the others follow from the date.

    scheduled → due → (attempted)* → recorded | unreachable | refused; due or attempted past the
    window → overdue (still recordable, flagged late). Mirrored in SQL by store.STATUS_SQL.
    """
    if stored in CLOSED:
        return stored
    if today > window_end:
        return "overdue"
    if stored == "attempted":
        return "attempted"
    if today < window_start:
        return "scheduled"
    return "due"


def check_outcome(situation: str, digital_job: bool, observed_on: date, exit_date: date, status: str) -> bool:
    """May an outcome be recorded on a follow-up in `status` (as seen today)? True when it comes late
    (the window closed): accepted, and flagged."""
    if status == "recorded":
        raise AlreadyRecorded("an outcome is already recorded for this follow-up; correct it instead")
    if status == "scheduled":
        raise NotDue("the follow-up window has not opened yet")
    if status == "exempt":
        raise FollowupClosed("this follow-up is exempt")
    _check_situation(situation, digital_job, observed_on, exit_date)
    return status == "overdue"


def check_correction(situation: str, digital_job: bool, observed_on: date, exit_date: date, status: str) -> None:
    if status != "recorded":
        raise NothingToCorrect("no outcome is recorded for this follow-up yet")
    _check_situation(situation, digital_job, observed_on, exit_date)


def check_attempt(status: str, attempted_on: date, exit_date: date, result: str = "no_answer") -> str:
    """Return the stored state after a contact attempt: attempted, or refused when the learner said
    no (the follow-up closes)."""
    if status in CLOSED:
        raise FollowupClosed(f"this follow-up is closed ({status})")
    if attempted_on < exit_date:
        raise InvalidOutcome("attempted_on is before the exit from training")
    return "refused" if result == "refused" else "attempted"


def check_close(status: str, closing: str, reason: str | None) -> None:
    if status in ("recorded", "exempt"):
        raise FollowupClosed(f"this follow-up is already {status}")
    if closing == "exempt" and reason not in EXEMPT_REASONS:
        raise InvalidOutcome(f"an exemption needs a reason among {', '.join(EXEMPT_REASONS)}")


def _check_situation(situation: str, digital_job: bool, observed_on: date, exit_date: date) -> None:
    if digital_job and situation not in EMPLOYMENT:
        raise InvalidOutcome(f"digital_job is only for an employment situation, not {situation}")
    if observed_on < exit_date:
        raise InvalidOutcome("observed_on is before the exit from training")
