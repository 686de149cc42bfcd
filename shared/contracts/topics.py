"""The one place that lists the topics: name, key, producer, consumers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    producer: str
    consumers: tuple[str, ...]
    event_prefixes: tuple[str, ...]


TOPICS: tuple[Topic, ...] = (
    Topic("parcours.programmes", "programme_id", "intake", ("progress", "outcomes"), ("programme.", "session.")),
    Topic(
        "parcours.applications",
        "learner_id",
        "intake",
        ("progress", "outcomes"),
        ("application.", "learner."),
    ),
    # Intake listens for starts: after one, an admission can no longer be withdrawn or a no-show.
    Topic("parcours.training", "learner_id", "progress", ("outcomes", "intake"), ("training.",)),
    # Intake listens for closed follow-ups, to purge contact details after the retention period.
    Topic("parcours.outcomes", "learner_id", "outcomes", ("intake",), ("followup.", "outcome.")),
)


def topic_for(event_type: str) -> str:
    """The topic an event type is published on."""
    for topic in TOPICS:
        if event_type.startswith(topic.event_prefixes):
            return topic.name
    raise ValueError(f"no topic carries events of type {event_type!r}")


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


def all_topic_names() -> list[str]:
    names = [t.name for t in TOPICS]
    return names + [dlq_topic(n) for n in names]


def consumed_by(service: str) -> list[str]:
    return [t.name for t in TOPICS if service in t.consumers]
