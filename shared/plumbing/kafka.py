"""Kafka clients and topic administration."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contracts.topics import all_topic_names

log = logging.getLogger(__name__)


def make_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    # acks=all: a row is marked published only once every in-sync replica has it.
    # No idempotent producer (the embedded broker refuses it): duplicates from retries
    # are dropped by the consumers' inboxes.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=5,
        max_batch_size=512 * 1024,
        request_timeout_ms=15_000,
    )


async def ensure_topics(
    bootstrap_servers: str,
    partitions: int = 12,
    replication_factor: int = 1,
    timeout: float = 30.0,
    *,
    min_insync_replicas: int | None = None,
    retention_ms: int | None = None,
    dlq_retention_ms: int | None = None,
) -> list[str]:
    """Create every Parcours topic (and its .dlq twin) that does not exist; return those created.

    The keyword settings are for a replicated cluster (docker-compose.yml's topics job) and are
    left to the broker's defaults when not given. Topics that already exist are not altered.
    """
    configs = topic_configs(replication_factor, min_insync_replicas, retention_ms, dlq_retention_ms)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await asyncio.wait_for(admin.start(), timeout)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in all_topic_names() if name not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(name, partitions, replication_factor, topic_configs=configs[name] or None)
                     for name in missing]
                )
            except TopicAlreadyExistsError:
                pass  # another service created them first
            log.info("created topics %s", ", ".join(missing))
        return missing
    finally:
        await admin.close()


def topic_configs(
    replication_factor: int = 1,
    min_insync_replicas: int | None = None,
    retention_ms: int | None = None,
    dlq_retention_ms: int | None = None,
) -> dict[str, dict[str, str]]:
    """Per-topic configuration: only what is given, so the broker's defaults apply otherwise.

    With acks=all a write succeeds once min.insync.replicas replicas have it: 2 of 3 survives
    one broker down without losing an acknowledged event. More than the replication factor
    would refuse every write, so it is refused here. Retention of the event topics only has to
    cover a consumer's longest outage: the outboxes keep every event, and `parcours resync`
    re-publishes from them.
    """
    if min_insync_replicas is not None and not 1 <= min_insync_replicas <= replication_factor:
        raise ValueError(
            f"min.insync.replicas={min_insync_replicas} must be between 1 and the replication "
            f"factor ({replication_factor}), or every acks=all write would be refused"
        )
    configs: dict[str, dict[str, str]] = {}
    for name in all_topic_names():
        config: dict[str, str] = {}
        if min_insync_replicas is not None:
            config["min.insync.replicas"] = str(min_insync_replicas)
        retention = dlq_retention_ms if name.endswith(".dlq") else retention_ms
        if retention is not None:
            config["retention.ms"] = str(retention)
        configs[name] = config
    return configs
