"""Progress's HTTP bodies."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, field_validator, model_validator

from shared.contracts.vocabulary import DropoutCause, ExitReason, FactType
from shared.plumbing.schemas import NO_CONTROL, Request, check_moment


class FactIn(Request):
    """One training fact. `event_id` makes it idempotent: the same id again returns the first result."""

    model_config = Request.model_config | {"json_schema_extra": {"examples": [
        {"event_id": "0b9f3c52-8a0e-4c7e-9d1a-1f2e3d4c5b6a", "learner_id": "8f2d3c7e-1a4b-4c5d-9e6f-7a8b9c0d1e2f",
         "programme_id": "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b", "type": "attendance",
         "occurred_at": "2020-03-31T18:00:00+02:00", "hours": 35},
        {"learner_id": "8f2d3c7e-1a4b-4c5d-9e6f-7a8b9c0d1e2f", "programme_id": "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b",
         "type": "exited", "occurred_at": "2020-06-15T16:00:00+02:00", "exit_reason": "dropped_out",
         "dropout_cause": "found_job"},
    ]}}

    event_id: UUID | None = Field(None, description="Client-chosen id; repeating it is harmless")
    learner_id: UUID | None = Field(
        None, description="The network-wide learner id (administrators); a centre names the enrolment_id or the "
                          "application_id instead, which is all it ever sees")
    programme_id: UUID
    enrolment_id: UUID | None = Field(
        None, description="The enrolment (one per admission: the admitted application's id). Without it (or "
                          "application_id), the learner's one enrolment in the programme that fits the fact is "
                          "taken; when several could, the fact is refused (409 ambiguous_enrolment) and names them")
    application_id: UUID | None = Field(None, description="The admitted application, instead of enrolment_id")
    type: FactType
    occurred_at: AwareDatetime = Field(description="When it happened (ISO 8601 with offset)")
    hours: float | None = Field(None, gt=0, le=744, description="attendance: hours attended")
    milestone: str | None = Field(None, min_length=1, max_length=200, pattern=NO_CONTROL)
    reason: str | None = Field(None, min_length=1, max_length=200, pattern=NO_CONTROL,
                               description="interrupted: why (free text, no personal data)")
    exit_reason: ExitReason | None = None
    dropout_cause: DropoutCause | None = None
    transfer_to_programme_id: UUID | None = Field(
        None, description="exited with exit_reason transferred: the programme of the network the learner continues "
                          "in, without a new application (a new enrolment there, linked to this one)")

    _moment = field_validator("occurred_at")(check_moment)

    @model_validator(mode="after")
    def _fields_for_type(self) -> FactIn:
        if self.learner_id is None and self.enrolment_id is None and self.application_id is None:
            raise ValueError("a fact names its enrolment: enrolment_id or application_id (or learner_id)")
        if self.type == "attendance" and self.hours is None:
            raise ValueError("an attendance fact needs hours")
        if self.type == "milestone" and self.milestone is None:
            raise ValueError("a milestone fact needs milestone")
        if self.type == "exited":
            if self.exit_reason is None:
                raise ValueError("an exited fact needs exit_reason")
            if self.exit_reason == "dropped_out" and self.dropout_cause is None:
                raise ValueError("a drop-out needs dropout_cause")
        if self.dropout_cause is not None and self.exit_reason != "dropped_out":
            raise ValueError("dropout_cause is only for exit_reason dropped_out")
        if self.transfer_to_programme_id is not None:
            if self.exit_reason != "transferred":
                raise ValueError("transfer_to_programme_id is only for exit_reason transferred")
            if self.transfer_to_programme_id == self.programme_id:
                raise ValueError("transfer_to_programme_id must be another programme (a new session of the same "
                                 "programme is a new admission)")
        return self


class CorrectionIn(Request):
    """Void a fact, or amend its date or values (its type cannot change: void it and post another)."""

    model_config = Request.model_config | {"json_schema_extra": {"examples": [
        {"action": "amend", "exit_reason": "certified", "note": "the certification result came in"},
        {"action": "void", "note": "posted for the wrong learner"},
    ]}}

    action: Literal["void", "amend"]
    occurred_at: AwareDatetime | None = None
    hours: float | None = Field(None, gt=0, le=744)
    milestone: str | None = Field(None, min_length=1, max_length=200, pattern=NO_CONTROL)
    reason: str | None = Field(None, min_length=1, max_length=200, pattern=NO_CONTROL)
    exit_reason: ExitReason | None = None
    dropout_cause: DropoutCause | None = None
    note: str | None = Field(None, max_length=500, pattern=NO_CONTROL, description="Why it is corrected")

    _moment = field_validator("occurred_at")(lambda v: None if v is None else check_moment(v))

    @model_validator(mode="after")
    def _something_to_amend(self) -> CorrectionIn:
        changes = self.model_dump(exclude={"action", "note"}, exclude_none=True)
        if self.action == "amend" and not changes:
            raise ValueError("an amendment needs at least one field to change")
        if self.action == "void" and changes:
            raise ValueError("a void takes no new values (amend instead)")
        return self
