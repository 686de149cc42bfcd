"""Every event type and version has a golden payload that consumers must keep accepting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.contracts import EVENT_TYPES, UnknownEventType, decode_event, encode_event, topic_for

GOLDEN = Path(__file__).parent
FILES = sorted(GOLDEN.glob("v*/*.json"))


def load(path: Path):
    doc = json.loads(path.read_text())
    headers = [(k, v.encode()) for k, v in doc["headers"].items()]
    return doc, json.dumps(doc["value"]).encode(), headers


def test_every_registered_event_type_has_a_golden_payload():
    covered = set()
    for path in FILES:
        doc, _, _ = load(path)
        covered.add((doc["headers"]["event_type"], int(doc["headers"]["schema_version"])))
    assert covered == set(EVENT_TYPES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_payload_decodes_and_encodes_back(path):
    doc, value, headers = load(path)
    event = decode_event(value, headers)
    assert event.event_type == doc["headers"]["event_type"]
    key, encoded, out_headers = encode_event(event)
    assert key.decode() == doc["key"]
    assert_contains(json.loads(encoded), doc["value"])  # no field removed or retyped
    assert dict(out_headers) == {k: v for k, v in headers}
    assert topic_for(event.event_type).startswith("parcours.")


def assert_contains(actual, golden, path="value"):
    """Every golden field is still there with the same value; fields added later may be present."""
    if isinstance(golden, dict):
        assert isinstance(actual, dict), path
        for key, value in golden.items():
            assert key in actual, f"{path}.{key} was removed"
            assert_contains(actual[key], value, f"{path}.{key}")
    else:
        assert actual == golden, f"{path} changed: {golden!r} -> {actual!r}"


def test_consumers_ignore_unknown_fields_and_parse_without_headers():
    _, value, headers = load(GOLDEN / "v1" / "training.exited.json")
    body = json.loads(value)
    body["added_later"] = {"x": 1}
    body["data"]["also_new"] = True
    event = decode_event(json.dumps(body).encode(), None)
    assert event.data.reason == "dropped_out"


def test_unknown_version_and_wrong_schema_are_refused():
    _, value, _ = load(GOLDEN / "v1" / "training.exited.json")
    with pytest.raises(UnknownEventType):
        decode_event(value, [("event_type", b"training.exited"), ("schema_version", b"99")])
    with pytest.raises(ValidationError):
        decode_event(b'{"event_id": 1}', [("event_type", b"training.exited"), ("schema_version", b"1")])


def test_events_are_frozen():
    _, value, headers = load(GOLDEN / "v1" / "training.exited.json")
    event = decode_event(value, headers)
    with pytest.raises(ValidationError):
        event.producer = "someone else"
