"""Outcomes's HTTP bodies."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import Field, field_validator

from shared.contracts.events import InformationSource, Situation
from shared.plumbing.schemas import NO_CONTROL, Request

STAFF = Field(None, min_length=1, max_length=100, pattern=NO_CONTROL,
              description="Who did it (until staff keys exist, as declared by the client)")


def past_date(value: date) -> date:
    if value.year < 2000 or value > date.today():
        raise ValueError("must be a past date, from 2000 on")
    return value


class OutcomeIn(Request):
    """The learner's situation at six months, as the follow-up found it."""

    model_config = Request.model_config | {"json_schema_extra": {"examples": [
        {"situation": "permanent_contract", "digital_job": True, "job_title": "Développeuse web",
         "source": "learner_statement", "observed_on": "2021-04-02", "staff": "Samia"},
        {"situation": "further_study", "source": "administrative_record", "observed_on": "2021-04-02"},
    ]}}

    situation: Situation
    digital_job: bool = Field(False, description="A job in the digital sector (employment situations only)")
    job_title: str | None = Field(None, min_length=1, max_length=200, pattern=NO_CONTROL)
    source: InformationSource = "learner_statement"
    observed_on: date = Field(description="The date the situation describes")
    staff: str | None = STAFF

    _past = field_validator("observed_on")(past_date)


class OutcomeItemIn(OutcomeIn):
    learner_id: UUID
    programme_id: UUID


class AttemptIn(Request):
    model_config = Request.model_config | {"json_schema_extra": {"examples": [
        {"channel": "phone", "attempted_on": "2021-03-15", "result": "no_answer", "staff": "Samia"}]}}

    channel: Literal["phone", "email", "sms", "letter", "visit"]
    attempted_on: date
    result: Literal["reached", "no_answer", "message_left", "wrong_contact", "refused"]
    note: str | None = Field(None, max_length=500, pattern=NO_CONTROL)
    staff: str | None = STAFF

    _past = field_validator("attempted_on")(past_date)


class CloseIn(Request):
    status: Literal["unreachable", "refused", "exempt"]
    reason: Literal["deceased", "long_term_illness", "left_country"] | None = Field(
        None, description="Required for an exemption")


class AssignIn(Request):
    staff: str | None = STAFF
