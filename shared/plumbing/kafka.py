"""Kafka clients and topic administration."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import ClusterAuthorizationFailedError, TopicAlreadyExistsError, TopicAuthorizationFailedError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import DefaultPartitioner, murmur2
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.contracts.topics import all_topic_names
from shared.plumbing.settings import ServiceSettings

log = logging.getLogger(__name__)

_SASL = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
_REFUSED = {TopicAuthorizationFailedError.errno, ClusterAuthorizationFailedError.errno}


def kafka_security(settings: ServiceSettings) -> BaseSecurity | None:
    """Who the clients are to the brokers, from the settings; None is no authentication and no TLS.

    FastStream's broker takes this object as it is; every aiokafka client built here gets it
    through `client_options`, by FastStream's own translation, so that the two cannot differ.
    """
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    tls = protocol in ("SSL", "SASL_SSL")
    # aiokafka refuses SSL without a context; an empty CA file means the system's trusted CAs.
    context = create_ssl_context(cafile=settings.kafka_ssl_cafile or None) if tls else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return _SASL[settings.kafka_sasl_mechanism](settings.kafka_sasl_username, settings.kafka_sasl_password,
                                                ssl_context=context, use_ssl=tls)


def client_options(bootstrap_servers: str, security: BaseSecurity | None = None) -> dict[str, Any]:
    """The connection keywords of every aiokafka client: the brokers and, when there is one, the login.

    Without security it is the bootstrap servers alone, so the clients keep aiokafka's defaults.
    """
    return {"bootstrap_servers": bootstrap_servers, **parse_security(security)}


class KeyedPartitioner:
    """Kafka's default partitioning (murmur2 of the key, as the Java client and aiokafka do), each
    key's hash computed once: aiokafka's murmur2 is pure Python, and a relay sends the events of
    the same few hundred learners over and over (a third of its time went to hashing them)."""

    MAX_KEYS = 100_000  # then the cache starts again: a bound on memory, not a policy

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}
        self._default = DefaultPartitioner()

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return self._default(key, all_partitions, available)
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self.MAX_KEYS:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


def make_producer(bootstrap_servers: str, security: BaseSecurity | None = None) -> AIOKafkaProducer:
    # acks=all: a row is marked published only once every in-sync replica has it.
    # No idempotent producer (the embedded broker refuses it): duplicates from retries
    # are dropped by the consumers' inboxes.
    return AIOKafkaProducer(
        **client_options(bootstrap_servers, security),
        acks="all",
        linger_ms=5,
        max_batch_size=512 * 1024,
        request_timeout_ms=15_000,
        partitioner=KeyedPartitioner(),
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
    security: BaseSecurity | None = None,
) -> list[str]:
    """Create every Parcours topic (and its .dlq twin) that does not exist; return those created.

    The keyword settings are for a replicated cluster (docker-compose.yml's topics job) and are
    left to the broker's defaults when not given. Topics that already exist are not altered.
    """
    configs = topic_configs(replication_factor, min_insync_replicas, retention_ms, dlq_retention_ms)
    admin = AIOKafkaAdminClient(**client_options(bootstrap_servers, security), request_timeout_ms=10_000)
    await asyncio.wait_for(admin.start(), timeout)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in all_topic_names() if name not in existing]
        if missing:
            try:
                response = await admin.create_topics(
                    [NewTopic(name, partitions, replication_factor, topic_configs=configs[name] or None)
                     for name in missing]
                )
            except TopicAlreadyExistsError:
                pass  # another service created them first
            else:
                # aiokafka returns the per-topic errors instead of raising them. A refusal by the ACLs
                # (a principal that may neither see nor create a topic) must not pass for a creation.
                refused = [topic for topic, code, *_ in response.topic_errors if code in _REFUSED]
                if refused:
                    raise TopicAuthorizationFailedError(
                        f"not allowed to create {', '.join(refused)} (nor to see them, if they exist): "
                        "the Kafka ACLs of this user (deploy/kafka/acls.txt)")
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
