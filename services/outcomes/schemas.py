"""Outcomes's HTTP bodies."""

from __future__ import annotations

from datetime import date
from typing import Literal, get_args
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from shared.contracts import calendar
from shared.contracts.vocabulary import (
    SITUATIONS,
    ContactChannel,
    ContactResult,
    ExemptReason,
    FundingLine,
    InformationSource,
    Situation,
    counted_situation,
)
from shared.plumbing.schemas import NO_CONTROL, Request

STAFF = Field(None, min_length=1, max_length=100, pattern=NO_CONTROL,
              description="Who did it (until staff keys exist, as declared by the client)")


def past_date(value: date) -> date:
    if value.year < 2000 or value > calendar.today():
        raise ValueError("must be a past date, from 2000 on")
    return value


class OutcomeIn(Request):
    """The learner's situation at six months, as the follow-up found it."""

    model_config = Request.model_config | {"json_schema_extra": {"examples": [
        {"situation": "permanent_contract", "digital_job": True, "job_title": "Développeuse web",
         "source": "learner_statement", "observed_on": "2021-04-02", "staff": "Samia"},
        {"situation": "further_study", "source": "administrative_record", "observed_on": "2021-04-02"},
        {"situations": ["further_study", "fixed_term_under_6m"], "digital_job": False,
         "observed_on": "2021-04-02", "staff": "Samia"},
    ]}}

    situation: Situation | None = Field(
        None, description="The situation at the date; with `situations`, the one that counts (the first by priority)")
    situations: list[Situation] | None = Field(
        None, min_length=1, max_length=9,
        description="Every situation true at the date (a short CDD while studying, say); the person counts "
                    "under the first of them in the priority order of the vocabulary")
    digital_job: bool = Field(False, description="A job in the digital sector (employment situations only)")
    job_title: str | None = Field(None, min_length=1, max_length=200, pattern=NO_CONTROL)
    source: InformationSource = "learner_statement"
    observed_on: date = Field(description="The date the situation describes")
    staff: str | None = STAFF

    _past = field_validator("observed_on")(past_date)

    @model_validator(mode="after")
    def _counted(self) -> OutcomeIn:
        """`situations` holds every box ticked, `situation` the one that counts."""
        if self.situations is None:
            if self.situation is None:
                raise ValueError("give the situation, or every situation true at the date in situations")
            self.situations = [self.situation]
            return self
        ticked = [s for s in SITUATIONS if s in self.situations]  # priority order, each once
        counted = counted_situation(ticked)
        if self.situation is not None and self.situation != counted:
            raise ValueError(f"situation {self.situation} is not the one that counts among situations: "
                             f"{counted} comes first by priority (leave situation out)")
        self.situations, self.situation = ticked, counted
        return self


class OutcomeItemIn(OutcomeIn):
    followup_id: UUID | None = None
    enrolment_id: UUID | None = Field(None, description="The enrolment followed up (for an admission, the "
                                                        "application's id)")
    learner_id: UUID | None = None
    programme_id: UUID | None = None

    @model_validator(mode="after")
    def _names_a_followup(self) -> OutcomeItemIn:
        if self.followup_id is None and self.enrolment_id is None and (self.learner_id is None
                                                                        or self.programme_id is None):
            raise ValueError("name the follow-up: followup_id, enrolment_id, or learner_id and programme_id")
        return self


class AttemptIn(Request):
    model_config = Request.model_config | {"json_schema_extra": {"examples": [
        {"channel": "phone", "attempted_on": "2021-03-15", "result": "no_answer", "staff": "Samia"}]}}

    channel: ContactChannel
    attempted_on: date
    result: ContactResult
    note: str | None = Field(None, max_length=500, pattern=NO_CONTROL)
    staff: str | None = STAFF

    _past = field_validator("attempted_on")(past_date)


class CloseIn(Request):
    status: Literal["unreachable", "refused", "exempt"]
    reason: ExemptReason | None = Field(
        None, description="Required for an exemption")


class AssignIn(Request):
    staff: str | None = STAFF


# What the key figures can be broken down by (service.BREAKDOWNS says which programme attribute).
BreakdownBy = Literal["region", "departement", "programme", "centre", "job_family", "certification", "mode",
                      "label_year", "funding_line"]
BREAKDOWN_NAMES: tuple[str, ...] = get_args(BreakdownBy)


class PublicationIn(Request):
    """Freeze the key figures of a year, as they are now, for publication."""

    model_config = Request.model_config | {"json_schema_extra": {"examples": [
        {"year": 2020, "by": "region", "cohort": "exit", "suppress": 20}]}}

    year: int = Field(ge=2000, le=2100)
    by: BreakdownBy | None = None
    funding_line: FundingLine | None = Field(None, description="Only this funding line's programmes")
    cohort: Literal["exit", "entry"] = "exit"
    suppress: int = Field(20, ge=2, le=1000, description="Counts under this size are withheld, with those that "
                                                         "would give them away: a published report always is")
