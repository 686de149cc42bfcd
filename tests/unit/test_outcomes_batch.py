"""Outcomes applies a consumed batch a kind of event at a time; an exit still needs a start before it."""

from __future__ import annotations

import uuid

from services.outcomes.domain import ImpossibleTransition
from services.outcomes.handlers import Projector
from shared.contracts import legacy_enrolment_id
from tests.integration import factories as f


def test_an_exit_is_valid_after_a_start_earlier_in_the_batch_or_already_stored():
    p = uuid.uuid4()
    fresh, stored, late_start, never = (uuid.uuid4() for _ in range(4))
    events = [f.started(fresh, p), f.exited(fresh, p), f.exited(stored, p),
              f.exited(late_start, p), f.started(late_start, p), f.exited(never, p)]
    refused = Projector._exits_without_start(events, started={legacy_enrolment_id(stored, p)})
    assert set(refused) == {events[3].event_id, events[5].event_id}  # the exit before its start, and never started
    assert all(isinstance(exc, ImpossibleTransition) for exc in refused.values())
    assert "who never started" in str(refused[events[5].event_id])
