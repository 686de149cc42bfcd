"""JSON on the wire, with the type and version also in Kafka headers."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from shared.contracts.envelope import Envelope
from shared.contracts.events import EVENT_TYPES

HEADER_EVENT_TYPE = "event_type"
HEADER_SCHEMA_VERSION = "schema_version"

Headers = Sequence[tuple[str, bytes]]


class UnknownEventType(ValueError):
    """An event type or version this consumer does not know."""


def event_headers(event_type: str, schema_version: int) -> list[tuple[str, bytes]]:
    """An event's Kafka headers: they depend on its type and version only."""
    return [(HEADER_EVENT_TYPE, event_type.encode()), (HEADER_SCHEMA_VERSION, str(schema_version).encode())]


def encode_event(event: Envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Return (key, value, headers) for an event."""
    return event.key, event.model_dump_json().encode(), event_headers(event.event_type, event.schema_version)


def header(headers: Headers | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return value.decode("utf-8", errors="replace") if value is not None else None
    return None


def decode_event(value: bytes, headers: Headers | None = None) -> Envelope:
    """Parse an event; raises UnknownEventType or pydantic's ValidationError (both permanent)."""
    event_type = header(headers, HEADER_EVENT_TYPE)
    version = header(headers, HEADER_SCHEMA_VERSION)
    if event_type is None or version is None:
        # Headers are a routing convenience; a message without them still parses from its body.
        probe = Envelope.model_validate_json(value) if value else None
        if probe is None:
            raise UnknownEventType("empty message")
        event_type, version = probe.event_type, str(probe.schema_version)
    try:
        cls = EVENT_TYPES[(event_type, int(version))]
    except (KeyError, ValueError):
        raise UnknownEventType(f"unknown event type {event_type!r} version {version!r}") from None
    return cls.model_validate_json(value)


__all__ = ["HEADER_EVENT_TYPE", "HEADER_SCHEMA_VERSION", "UnknownEventType", "ValidationError",
           "decode_event", "encode_event", "event_headers", "header"]
