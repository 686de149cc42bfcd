"""Each service's consumer registry covers every contract class its topics carry, once; and the
dispatcher hands each handler its events together, in the order consumed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.intake import handlers as intake
from services.outcomes import handlers as outcomes
from services.progress import handlers as progress
from shared.contracts import LearnerErased
from shared.contracts.events import EVENT_TYPES
from shared.contracts.topics import consumed_by, topic_for
from shared.plumbing.dispatch import dispatch


def carried_to(service: str) -> set[type]:
    return {cls for (event_type, _), cls in EVENT_TYPES.items() if topic_for(event_type) in consumed_by(service)}


@pytest.mark.parametrize(("service", "handled", "ignored"), [
    ("intake", set(intake.HANDLERS), set(intake.IGNORED)),
    ("progress", set(progress.HANDLERS), set(progress.IGNORED)),
    ("outcomes", set(outcomes.HANDLED), set(outcomes.IGNORED)),
])
def test_every_class_a_service_consumes_is_either_handled_or_declared_ignored(service, handled, ignored):
    assert not handled & ignored
    assert handled | ignored == carried_to(service), (
        f"{service}: decide what to do with {sorted(c.__name__ for c in carried_to(service) - handled - ignored)}")


def _erased(n: int) -> LearnerErased:
    now = datetime.now(UTC)
    return LearnerErased.build(event_id=uuid.uuid4(), occurred_at=now, recorded_at=now, producer="intake",
                               learner_id=uuid.UUID(int=n))


async def test_a_handler_registered_for_several_classes_gets_their_events_together_in_order():
    calls = []

    async def first(conn, events):
        calls.append(("first", [e.learner_id.int for e in events]))

    async def second(conn, events):
        calls.append(("second", [e.event_type for e in events]))

    events = [_erased(1), _erased(2), _erased(3)]
    await dispatch(None, events, {type(events[0]): first})
    await dispatch(None, events, {int: second, type(events[0]): first})
    assert calls == [("first", [1, 2, 3]), ("first", [1, 2, 3])]  # a handler with no events is not called
