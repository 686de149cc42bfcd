"""The envelope every event travels in."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict


class EventData(BaseModel):
    """Base of every event's typed payload.

    Frozen, and unknown fields are ignored so that a producer can add a field
    before its consumers know it (additive changes only within a version).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")


class Envelope(BaseModel):
    """Fields common to every event; subclasses fix `event_type`, `schema_version` and `data`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    EVENT_TYPE: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: UUID
    event_type: str
    schema_version: int
    # When it happened in the world (from the user); every indicator uses this date.
    occurred_at: AwareDatetime
    # When Parcours accepted it.
    recorded_at: AwareDatetime
    producer: str
    # Pseudonymous; None only for events about a programme.
    learner_id: UUID | None = None
    programme_id: UUID | None = None
    correlation_id: UUID | None = None

    @classmethod
    def build(cls, **fields) -> Envelope:
        """Create an event of this class with its type and version filled in."""
        return cls(event_type=cls.EVENT_TYPE, schema_version=cls.SCHEMA_VERSION, **fields)

    @property
    def key(self) -> bytes:
        """Kafka key: the learner, so one learner's events stay in order; else the programme."""
        return str(self.learner_id or self.programme_id).encode()
