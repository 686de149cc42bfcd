"""Intake's HTTP response bodies, documented with examples. None carries a candidate's personal data."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.intake.schemas import CENTRE_EXAMPLE, PROGRAMME_EXAMPLE
from shared.plumbing.schemas import BatchOut as SharedBatchOut


class ApplicationOut(BaseModel):
    """An application, without any personal data: the learner is a pseudonymous id."""

    application_id: UUID
    learner_id: UUID | None = Field(
        None, description="The network-wide pseudonymous id of the person, shown to administrators only: a centre "
                          "sees the ids of its own applications and never learns that a person is known elsewhere "
                          "(in progress, an enrolment's id is its admitted application's)")
    programme_id: UUID
    session_id: UUID | None = None
    status: str
    reason: str | None = None
    submitted_at: datetime
    decided_at: datetime | None = None
    started_at: datetime | None = Field(
        None, description="When the admitted candidate's training started, as the centre reported it to progress "
                          "(after that, the admission can no longer be withdrawn or a no-show)")


class DecisionOut(ApplicationOut):
    promoted_application_id: UUID | None = Field(
        None, description="The waitlisted application admitted to the place this decision freed")


class TransitionOut(BaseModel):
    status: str
    reason: str | None = None
    occurred_at: datetime
    recorded_at: datetime
    actor: str


class AddressOut(BaseModel):
    street: str
    postcode: str
    city: str


class CentreOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CENTRE_EXAMPLE | {
        "created_at": "2020-01-06T09:00:00Z"}]})

    centre_id: UUID
    name: str
    siret: str
    address: AddressOut
    region: str
    departement: str
    created_at: datetime


class ModeOut(BaseModel):
    effective_on: date
    mode: str


class SessionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "session_id": "3c4d5e6f-7081-4923-a4b5-c6d7e8f90a1b", "programme_id": "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b",
        "start_date": "2020-10-05", "end_date": "2021-05-05", "capacity": 24, "admitted": 20, "waitlisted": 3,
        "created_at": "2020-06-01T09:00:00Z"}]})

    session_id: UUID
    programme_id: UUID
    start_date: date
    end_date: date
    capacity: int
    admitted: int = Field(description="Applications admitted now")
    waitlisted: int = Field(description="Applications waitlisted now")
    created_at: datetime


class ProgrammeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [PROGRAMME_EXAMPLE | {
        "first_session_id": "280f1ae7-c68f-5086-9114-0d6914a384df", "created_at": "2020-01-06T09:00:00Z"}]})

    programme_id: UUID
    centre_id: UUID
    centre_name: str
    title: str
    region: str
    departement: str | None = None
    job_family: str = Field(description="ROME code")
    rncp: str | None = None
    mode: str
    duration_months: int
    label_year: int | None = None
    capacity: int = Field(description="Places of the first session")
    start_date: date = Field(description="Start of the first session")
    funding_line: str
    first_session_id: UUID
    created_at: datetime
    sessions: list[SessionOut] | None = Field(None, description="Every session (in GET /programmes/{id} only)")


class CentrePage(BaseModel):
    items: list[CentreOut]
    total: int
    limit: int
    offset: int


class ProgrammePage(BaseModel):
    items: list[ProgrammeOut]
    total: int
    limit: int
    offset: int


class SessionPage(BaseModel):
    items: list[SessionOut]
    total: int
    limit: int
    offset: int


class ApplicationPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [{
        "application_id": "2a3b4c5d-6e7f-4809-9a1b-2c3d4e5f6a7b", "learner_id": None,
        "programme_id": "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b", "session_id": "3c4d5e6f-7081-4923-a4b5-c6d7e8f90a1b",
        "status": "waitlisted", "reason": None, "submitted_at": "2020-01-15T09:00:00Z",
        "decided_at": "2020-02-01T08:00:00Z"}], "total": 1, "limit": 100, "offset": 0}]})

    items: list[ApplicationOut] = Field(description="No personal data: ids, statuses, dates and session only")
    total: int
    limit: int
    offset: int


class ItemResult(BaseModel):
    index: int
    result: Literal["created", "applied", "duplicate", "unchanged", "refused"]
    application_id: UUID | None = None
    learner_id: UUID | None = Field(None, description="Administrators only (see ApplicationOut)")
    status: str | None = None
    promoted_application_id: UUID | None = None
    code: str | None = None
    error: str | None = None
    errors: list[dict] | None = None


BatchOut = SharedBatchOut[ItemResult]


class ContactOut(BaseModel):
    """The only personal data intake answers, to follow-up staff at the moment they call: the details
    recorded with the application the follow-up's enrolment came from."""

    learner_id: UUID
    application_id: UUID
    enrolment_id: UUID | None = None
    first_name: str
    last_name: str
    email: str
    phone: str | None = None


class ErasureItem(BaseModel):
    learner_id: UUID
    erased_at: datetime


class ErasurePage(BaseModel):
    """The tombstone list: every learner erased, so that a restored backup can be erased again."""

    items: list[ErasureItem]


class ErasureOut(BaseModel):
    learner_id: UUID
    result: Literal["erased", "already_erased"]


class ContactReadOut(BaseModel):
    learner_id: UUID
    key_id: UUID | None = Field(None, description="The key that read them (none when keys are turned off)")
    key_name: str | None = None
    role: str | None = None
    read_at: datetime


class ContactReadPage(BaseModel):
    items: list[ContactReadOut]
