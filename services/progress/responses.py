"""Progress's HTTP response bodies. Learners are pseudonymous ids; a fact's free text (milestones,
interruption reasons) is the centre's own and is erased with the learner."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, RootModel

from shared.contracts.vocabulary import DropoutCause, EnrolmentState, ExitReason, FactType
from shared.plumbing.schemas import BatchOut


class FactResult(BaseModel):
    event_id: UUID
    result: Literal["applied", "duplicate"]
    enrolment_id: UUID | None = None
    state: str
    placed: Literal["in_order", "late"] | None = Field(
        None, description="late: dated before a fact already applied, placed at its date")


class CorrectionResult(BaseModel):
    correction_id: UUID
    event_id: UUID
    action: Literal["void", "amend"]
    result: Literal["applied", "duplicate"]
    state: EnrolmentState = Field(description="The enrolment's state after the corrected history")
    enrolment_id: UUID


class _ItemResult(BaseModel):
    result: Literal["applied", "duplicate", "refused"]
    event_id: UUID | None = None
    enrolment_id: UUID | None = None
    state: str | None = None
    placed: Literal["in_order", "late"] | None = None
    code: str | None = Field(None, description="Refused: a stable code")
    error: str | None = Field(None, description="Refused: why, in words")
    errors: list[dict[str, Any]] | None = Field(None, description="Invalid: each field at fault and why")


class FactItemResult(_ItemResult):
    index: int


FactBatchOut = BatchOut[FactItemResult]


class CsvLineResult(_ItemResult):
    line: int = Field(description="The line's number in the file (the header is line 1)")


class CsvReport(BaseModel):
    dry_run: bool
    lines: int
    applied: int
    duplicate: int
    refused: int
    results: list[CsvLineResult]


class StoredFact(BaseModel):
    event_id: UUID
    type: FactType
    occurred_at: datetime
    recorded_at: datetime
    data: dict[str, Any]
    voided_at: datetime | None = None


class EnrolmentBrief(BaseModel):
    enrolment_id: UUID
    learner_id: UUID | None = Field(None, description="The network-wide learner id, administrators only")
    programme_id: UUID
    application_id: UUID | None = None
    session_id: UUID | None = None
    transferred_from: UUID | None = None
    state: EnrolmentState
    admitted_at: datetime | None = None
    started_at: datetime | None = None
    exited_at: datetime | None = None
    exit_reason: ExitReason | None = None
    dropout_cause: DropoutCause | None = None
    attendance_hours: float


class EnrolmentOut(EnrolmentBrief):
    facts: list[StoredFact] = Field(description="Every fact of the enrolment in date order, voided ones included")
    other_enrolments: list[EnrolmentBrief] = Field(description="The learner's other enrolments in the programme")


class EnrolmentSummary(BaseModel):
    states: dict[str, int]
    total: int


class AboutOut(BaseModel):
    version: list[str] = Field(description="The xAPI versions this LRS speaks")


class StatementIds(RootModel[list[str]]):
    """The ids of the statements stored, in the order posted (xAPI's answer to POST)."""


class StatementResult(BaseModel):
    """A page of statements, the latest stored first (the oldest with ascending=true); `more` is the
    next page's address, empty at the end. (Asked by statementId or voidedStatementId, the answer
    is that one statement.)"""

    statements: list[dict[str, Any]]
    more: str


class AttentionItem(BaseModel):
    statement_id: UUID
    stored_at: datetime
    code: str | None = Field(description="Why: not_admitted, out_of_order, unmappable, forbidden...")
    reason: str | None
    statement: dict[str, Any]


class AttentionPage(BaseModel):
    items: list[AttentionItem]


class AccountsOut(BaseModel):
    mapped: int = Field(description="Accounts mapped to learners")
    applied: int = Field(description="Statements that waited and are now facts")
