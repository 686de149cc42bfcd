"""Outcomes's Kafka input: it consumes every topic of the journey into its projection."""

from shared.contracts.topics import consumed_by

TOPICS = consumed_by("outcomes")
