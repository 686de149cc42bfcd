"""Outcomes's HTTP response bodies. None carries personal data: learners are pseudonymous ids, and
contact details are read from intake when a page shows them, never stored or answered here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from services.outcomes.schemas import BreakdownBy
from shared.contracts.vocabulary import (
    ContactChannel,
    ContactResult,
    ExitReason,
    FollowupStatus,
    InformationSource,
    Situation,
)
from shared.plumbing.schemas import BatchOut


class _Followup(BaseModel):
    followup_id: UUID
    enrolment_id: UUID
    learner_id: UUID
    programme_id: UUID
    exit_date: date = Field(description="The exit's civil date in Paris")
    exit_reason: ExitReason
    observation_date: date = Field(description="Six months after the exit (clamped to the month's end)")
    window_start: date
    window_end: date
    status: FollowupStatus = Field(description="As of today: closed states are stored, the others follow the date")
    assigned_to: str | None = None
    closed_reason: str | None = None
    centre_id: UUID | None = None
    centre_name: str | None = None
    programme_title: str | None = None


class FollowupOut(_Followup):
    attempts: int = Field(description="Contact attempts logged")


class FollowupPage(BaseModel):
    items: list[FollowupOut]
    total: int
    limit: int
    offset: int


class AttemptOut(BaseModel):
    channel: ContactChannel
    attempted_on: date
    result: ContactResult
    note: str | None = None
    staff: str | None = None
    recorded_at: datetime


class OutcomeVersionOut(BaseModel):
    event_id: UUID
    situation: Situation = Field(description="The situation that counts (the first ticked by priority)")
    situations: list[Situation] | None = None
    digital_job: bool
    job_title: str | None = None
    source: InformationSource
    observed_on: date
    late: bool
    corrects_event_id: UUID | None = None
    recorded_by: str | None = None
    recorded_at: datetime


class FollowupDetailOut(_Followup):
    attempts: list[AttemptOut]
    outcomes: list[OutcomeVersionOut] = Field(description="Every version, oldest first; the figures use the last")


class OutcomeResult(BaseModel):
    followup_id: UUID
    learner_id: UUID
    programme_id: UUID
    event_id: UUID
    result: Literal["created", "corrected"]
    status: Literal["recorded"]
    late: bool | None = Field(None, description="Recorded after the window closed")
    corrects_event_id: UUID | None = None


class OutcomeItemResult(BaseModel):
    index: int
    result: Literal["created", "refused"]
    followup_id: UUID | None = None
    learner_id: UUID | None = None
    programme_id: UUID | None = None
    event_id: UUID | None = None
    status: str | None = None
    late: bool | None = None
    code: str | None = None
    error: str | None = None
    errors: list[dict] | None = None


OutcomeBatchOut = BatchOut[OutcomeItemResult]


class BreakdownGroup(BaseModel):
    key: str
    label: str | None
    counts: dict[str, Any]
    rates: dict[str, Any]


class Breakdown(BaseModel):
    by: BreakdownBy
    groups: list[BreakdownGroup]


class KeyFiguresOut(BaseModel):
    year: int
    definitions: str = Field(description="The version of the indicators' definitions")
    cohort: Literal["exit", "entry"]
    cohorts: dict[str, str] = Field(description="Who each kind of figure counts")
    counts: dict[str, Any]
    rates: dict[str, Any] = Field(description="Each with value, numerator and denominator (value null when the "
                                              "denominator is 0)")
    breakdown: Breakdown | None = None
    funding_line: str | None = Field(None, description="Only this funding line's programmes, when asked")
    as_of: str | None = Field(None, description="The moment the figures are as known at, when asked")
    suppressed_under: int | None = None


class StatsOut(BaseModel):
    events_applied: dict[str, int]
    followups: int


class RankedJob(BaseModel):
    job_family: str = Field(description="ROME code of the job the programme prepares for")
    label: str | None = None
    learners: int | str = Field(description="People trained or in training in the year (s: withheld)")


class ModeChanges(BaseModel):
    programmes: int = Field(description="Programmes running in the year")
    changed: int = Field(description="Those whose delivery mode changed during the year")
    back_by_31_december: int = Field(description="Those of them back to their usual mode by 31 December")
    share_changed: dict[str, Any]
    share_back: dict[str, Any]


class SinceLaunch(BaseModel):
    first_year: int | None = Field(description="The first year with a follow-up")
    people_trained: int | str = Field(description="People who started a training since the first year")
    positive_exit_rate_by_year: list[dict[str, Any]] = Field(description="gen_2020, each exit cohort")
    positive_exit_rate_pooled: dict[str, Any] = Field(description="Over every cohort since the first year")


class NetworkFiguresOut(BaseModel):
    """The figures the network publishes beyond the rates (domain.md §6)."""

    year: int
    funding_line: str | None = None
    suppressed_under: int | None = None
    target_jobs: list[RankedJob]
    mode_changes: ModeChanges
    since_launch: SinceLaunch


class PublicationOut(BaseModel):
    """A published report, without its content (GET /publications/{report_id} gives it, byte for byte)."""

    report_id: UUID
    year: int
    parameters: dict[str, Any] = Field(description="by, cohort and suppress: what a recomputation repeats")
    definitions: str
    sha256: str = Field(description="SHA-256 of the content, the canonical JSON of the figures")
    published_at: datetime
    published_by: str


class PublicationPage(BaseModel):
    items: list[PublicationOut]


class FigureChange(BaseModel):
    figure: str = Field(description="Its path in the report, e.g. counts.exits_total or breakdown.32.counts.…")
    published: Any = None
    now: Any = None


class PublicationChanges(BaseModel):
    """What differs between a published report and the same report computed now, and why."""

    report_id: UUID
    published_at: datetime
    sha256: str
    changed: list[FigureChange]
    since: dict[str, Any] = Field(description="What reached the figures after the publication: events applied by "
                                              "type (late facts, training.corrected), outcomes recorded and "
                                              "corrected")
