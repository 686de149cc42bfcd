"""Intake's HTTP request bodies and query filters (bodies forbid unknown fields to catch typos)."""

from __future__ import annotations

import re
from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.intake import domain, geography
from shared.contracts.vocabulary import ApplicationStatus, EducationLevel, FundingLine, Gender, Mode, ReferralSource
from shared.plumbing.schemas import NO_CONTROL, Request, check_moment

NAME = NO_CONTROL
EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,189}\.[a-z]{2,24}$")
ROME = re.compile(r"^[A-N]\d{4}$")
RNCP = re.compile(r"^RNCP\d{3,6}$")
FIRST_LABEL_YEAR = 2015

Status = ApplicationStatus
DecisionCode = Literal["screened", "admitted", "waitlisted", "rejected", "withdrawn", "no_show"]


def _region(value: str | None) -> str | None:
    if value is not None and not geography.is_region(value):
        raise ValueError(f"is not the INSEE code of a current region ({', '.join(geography.REGIONS)})")
    return value


def _departement(value: str | None, info: ValidationInfo) -> str | None:
    """A département code, in the region given beside it (the region is validated first)."""
    if value is None:
        return None
    value = value.upper()
    if not geography.is_departement(value):
        raise ValueError("is not the INSEE code of a département (01 to 95 with 2A and 2B, or 971 to 976)")
    region = info.data.get("region")
    if region is not None and geography.region_of(value) != region:
        raise ValueError(f"is not in region {region} (département {value} is in region "
                         f"{geography.region_of(value)})")
    return value


def _sane_date(value: date) -> date:
    if not 2000 <= value.year <= 2100:
        raise ValueError("must be between 2000 and 2100")
    return value


def _end_after_start(value: date | None, info: ValidationInfo) -> date | None:
    start = info.data.get("start_date")
    if value is not None and start is not None and value <= start:
        raise ValueError("must be after start_date")
    return value


# --- the catalogue -------------------------------------------------------------------


class AddressIn(Request):
    street: str = Field(min_length=1, max_length=200, pattern=NAME)
    postcode: str = Field(pattern=r"^\d{5}$", description="French postcode, 5 digits")
    city: str = Field(min_length=1, max_length=100, pattern=NAME)


CENTRE_EXAMPLE = {
    "centre_id": "5d6e7f80-9a0b-4c1d-8e2f-3a4b5c6d7e8f", "name": "Centre de Lille",
    "siret": "73282932000074",
    "address": {"street": "12 rue de Paris", "postcode": "59000", "city": "Lille"},
    "region": "32", "departement": "59",
}


class CentreIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [CENTRE_EXAMPLE]})

    centre_id: UUID | None = Field(None, description="Set it to make the creation idempotent")
    name: str = Field(min_length=1, max_length=200, pattern=NAME)
    siret: str = Field(description="14 digits (spaces allowed), with a valid Luhn check digit")
    address: AddressIn
    region: str = Field(description="INSEE code of a current region, e.g. 32 (Hauts-de-France)")
    departement: str = Field(description="INSEE code of a département of that region, e.g. 59, 2A, 974")

    @field_validator("siret")
    @classmethod
    def _siret(cls, value: str) -> str:
        value = re.sub(r"\s", "", value)
        if not re.fullmatch(r"\d{14}", value):
            raise ValueError("is not a SIRET (14 digits)")
        if not domain.siret_is_valid(value):
            raise ValueError("is not a valid SIRET (its check digit is wrong)")
        return value

    _region = field_validator("region")(_region)
    _departement = field_validator("departement")(_departement)


PROGRAMME_EXAMPLE = {
    "programme_id": "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b",
    "centre_id": "5d6e7f80-9a0b-4c1d-8e2f-3a4b5c6d7e8f", "centre_name": "Centre de Lille",
    "title": "Développeur web et web mobile", "region": "32", "departement": "59", "job_family": "M1805",
    "rncp": "RNCP37674", "mode": "hybrid", "duration_months": 7, "label_year": 2020,
    "capacity": 24, "start_date": "2020-03-02", "end_date": "2020-10-02", "funding_line": "gen_label",
}


class ProgrammeIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [
        PROGRAMME_EXAMPLE,
        {"centre_id": "5d6e7f80-9a0b-4c1d-8e2f-3a4b5c6d7e8f", "title": "Technicien d'assistance informatique",
         "job_family": "M1801", "duration_months": 6, "capacity": 16, "start_date": "2021-09-06"},
    ]})

    programme_id: UUID | None = Field(None, description="Set it to make the creation idempotent")
    centre_id: UUID = Field(description="A registered centre (POST /centres), or any id with centre_name")
    centre_name: str | None = Field(
        None, min_length=1, max_length=200, pattern=NAME,
        description="Required when the centre is not registered; else omitted or its registered name",
    )
    title: str = Field(min_length=1, max_length=200, pattern=NAME)
    region: str | None = Field(None, description="INSEE region code, e.g. 32; defaults to the centre's")
    departement: str | None = Field(None, description="INSEE département code; defaults to the centre's")
    job_family: str = Field(description="ROME code of the job family, e.g. M1805 (software development)")
    rncp: str | None = Field(None, description="RNCP code of the certification targeted, e.g. RNCP37674")
    mode: Mode = "in_person"
    duration_months: int = Field(ge=1, le=48)
    label_year: int | None = Field(None, description=f"Year of the label, {FIRST_LABEL_YEAR} to next year")
    capacity: int = Field(ge=1, le=1000, description="Places of the first session")
    start_date: date = Field(description="Start of the first session")
    end_date: date | None = Field(None, description="End of the first session; "
                                  "defaults to start_date + duration_months")
    funding_line: FundingLine = "gen_label"

    _region = field_validator("region")(_region)
    _departement = field_validator("departement")(_departement)
    _start = field_validator("start_date")(_sane_date)

    @field_validator("job_family")
    @classmethod
    def _rome(cls, value: str) -> str:
        value = value.upper()
        if not ROME.match(value):
            raise ValueError("is not a ROME code (a letter A to N and 4 digits, e.g. M1805)")
        return value

    @field_validator("rncp")
    @classmethod
    def _rncp(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.upper()
        if not RNCP.match(value):
            raise ValueError("is not an RNCP code (RNCP and 3 to 6 digits, e.g. RNCP37674)")
        return value

    @field_validator("label_year")
    @classmethod
    def _label_year(cls, value: int | None) -> int | None:
        last = date.today().year + 1
        if value is not None and not FIRST_LABEL_YEAR <= value <= last:
            raise ValueError(f"must be between {FIRST_LABEL_YEAR} and {last}")
        return value

    @field_validator("end_date")
    @classmethod
    def _end(cls, value: date | None, info: ValidationInfo) -> date | None:
        return _end_after_start(value if value is None else _sane_date(value), info)


class SessionIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"session_id": "3c4d5e6f-7081-4923-a4b5-c6d7e8f90a1b", "start_date": "2020-10-05",
         "end_date": "2021-05-05", "capacity": 24},
    ]})

    session_id: UUID | None = Field(None, description="Set it to make the creation idempotent")
    start_date: date
    end_date: date = Field(description="After start_date")
    capacity: int = Field(ge=1, le=1000)

    _start = field_validator("start_date")(_sane_date)

    @field_validator("end_date")
    @classmethod
    def _end(cls, value: date, info: ValidationInfo) -> date:
        return _end_after_start(_sane_date(value), info)


class ModeChangeIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"mode": "remote", "effective_on": "2020-03-17"}, {"mode": "in_person", "effective_on": "2020-09-01"},
    ]})

    mode: Mode
    effective_on: date = Field(description="The first day the programme is delivered in this mode")

    _day = field_validator("effective_on")(_sane_date)


# --- applications --------------------------------------------------------------------


class CandidateIn(Request):
    first_name: str = Field(min_length=1, max_length=100, pattern=NAME)
    last_name: str = Field(min_length=1, max_length=100, pattern=NAME)
    email: str = Field(max_length=254)
    phone: str | None = Field(None, max_length=32)
    birth_year: int = Field(ge=1920, le=2015)
    gender: Gender
    education_level: EducationLevel
    qpv: bool
    zrr: bool
    job_seeker: bool
    region: str = Field(description="INSEE code of the region where the candidate lives")

    _region = field_validator("region")(_region)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip().lower()
        if not EMAIL.match(value):
            raise ValueError("is not an e-mail address")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        """Normalise to E.164; a French national number (0X XX XX XX XX) gets +33."""
        if value is None or value == "":
            return None
        digits = re.sub(r"[\s.\-()]", "", value)
        if re.fullmatch(r"0[1-9]\d{8}", digits):
            digits = "+33" + digits[1:]
        elif digits.startswith("00"):
            digits = "+" + digits[2:]
        if not re.fullmatch(r"\+[1-9]\d{6,14}", digits):
            raise ValueError("is not a phone number (use E.164, e.g. +33612345678)")
        return digits


APPLICATION_EXAMPLE = {
    "programme_id": "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b",
    "session_id": "3c4d5e6f-7081-4923-a4b5-c6d7e8f90a1b",
    "submitted_at": "2020-01-15T10:00:00+01:00",
    "candidate": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada.lovelace@example.org",
                  "phone": "06 12 34 56 78", "birth_year": 1998, "gender": "female", "education_level": "4",
                  "qpv": True, "zrr": False, "job_seeker": True, "region": "32"},
}


class ApplicationIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [APPLICATION_EXAMPLE]})

    programme_id: UUID
    session_id: UUID | None = Field(None, description="The session applied to; default: the programme's first")
    submitted_at: AwareDatetime = Field(description="When the candidate applied (ISO 8601 with offset)")
    candidate: CandidateIn
    referral_source: ReferralSource | None = Field(
        None, description="Who referred the candidate: self, employment_service (France Travail), mission_locale, "
                          "other_partner (Onisep, an association…); absent: not stated")

    _moment = field_validator("submitted_at")(check_moment)


class DecisionIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "admitted", "decided_at": "2020-02-01T09:00:00+01:00"},
        {"decision": "rejected", "reason": "not_eligible", "decided_at": "2020-02-01T09:00:00+01:00"},
        {"decision": "no_show", "decided_at": "2020-03-09T09:00:00+01:00"},
    ]})

    decision: DecisionCode = Field(description="screened, a decision, or no_show (admitted, never came)")
    reason: str | None = Field(None, pattern=r"^[a-z_]{1,50}$", description="Reason code, required to reject")
    decided_at: AwareDatetime

    _moment = field_validator("decided_at")(check_moment)


class DecisionItemIn(DecisionIn):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"application_id": "2a3b4c5d-6e7f-4809-9a1b-2c3d4e5f6a7b", "decision": "waitlisted",
         "decided_at": "2020-02-01T09:00:00+01:00"},
    ]})

    application_id: UUID


class ApplicationFilter(BaseModel):
    """Filters of the applications listing; dates are calendar days in France (Europe/Paris)."""

    session_id: UUID | None = None
    programme_id: UUID | None = None
    centre_id: UUID | None = None
    status: Status | None = None
    submitted_from: date | None = Field(None, description="First day of submission, inclusive")
    submitted_to: date | None = Field(None, description="Last day of submission, inclusive")
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=10_000_000)

    @field_validator("submitted_to")
    @classmethod
    def _range(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("submitted_from")
        if value is not None and start is not None and value < start:
            raise ValueError("must not be before submitted_from")
        return value
