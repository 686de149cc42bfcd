"""Building blocks of HTTP request bodies shared by the services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# No control characters in free text.
NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"


class Request(BaseModel):
    """Request bodies forbid unknown fields, so that a client's typo is an error, not a silent loss."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BatchIn(Request):
    items: list[dict] = Field(
        min_length=1, max_length=1000,
        description="Up to 1,000 items, each validated on its own; the answer has one result per item",
    )


class ProblemOut(BaseModel):
    """How every service answers a refusal (shared.plumbing.http.problem)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "detail": "the session is full (24 admitted of 24 places)", "code": "capacity_reached"}]})

    detail: str
    code: str
    field: str | None = Field(None, description="The input at fault, when there is one")


ItemT = TypeVar("ItemT")


class BatchOut(BaseModel, Generic[ItemT]):
    """Every batch route's answer: one result per item, in the order sent, and the totals."""

    results: list[ItemT]
    accepted: int
    refused: int


def problems(*statuses: int) -> dict:
    """The refusals a route may answer, for its documentation (`responses=`)."""
    return {status: {"model": ProblemOut, "description": "Refused: a stable code and a sentence"}
            for status in statuses}


def check_moment(value: datetime) -> datetime:
    """A date in the world: not before 2000 (the network is younger) and not in the future."""
    value = value.astimezone(UTC)
    if value.year < 2000:
        raise ValueError("must be in the year 2000 or later")
    if value > datetime.now(UTC) + timedelta(days=1):
        raise ValueError("must not be in the future")
    return value
