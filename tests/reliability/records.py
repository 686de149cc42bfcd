"""Reading and writing Kafka records with confluent-kafka (librdkafka): a client no one here wrote.

Against the embedded broker (Tansu) librdkafka produces, creates topics and consumes with
`assign()`; joining a group with `subscribe()` hangs, so nothing here subscribes. Every call is
blocking: async tests run them with `asyncio.to_thread`.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def event_id(self) -> str | None:
        """The envelope's event_id, when the value is an event (None for poison)."""
        try:
            return str(uuid.UUID(json.loads(self.value)["event_id"]))
        except (ValueError, KeyError, TypeError):
            return None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace") if value is not None else None
        return None


def _config(bootstrap: str, **extra) -> dict:
    config = {"bootstrap.servers": bootstrap, "log_level": 0, "socket.timeout.ms": 10_000}
    config.update(extra)
    return config


def partitions_of(bootstrap: str, topic: str, timeout: float = 10.0) -> list[int]:
    consumer = Consumer(_config(bootstrap, **{"group.id": f"reliability-meta-{uuid.uuid4().hex[:8]}"}))
    try:
        meta = consumer.list_topics(topic, timeout=timeout)
        found = meta.topics.get(topic)
        if found is None or found.error is not None:
            return []
        return sorted(found.partitions)
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, timeout: float = 30.0, quiet: float = 0.3) -> list[Record]:
    """Every record on `topic` now, from the beginning of each partition (no group involved)."""
    consumer = Consumer(_config(bootstrap, **{
        "group.id": f"reliability-reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "enable.partition.eof": False, "fetch.message.max.bytes": 4_000_000,
        "receive.message.max.bytes": 64_000_000,
    }))
    try:
        meta = consumer.list_topics(topic, timeout=10)
        found = meta.topics.get(topic)
        if found is None or found.error is not None:
            return []
        ends = {}
        for p in sorted(found.partitions):
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > 0:
                ends[p] = high
        if not ends:
            return []
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        # The embedded broker's high watermark (ListOffsets "latest") is the base offset of the
        # last record batch plus one, not the last offset plus one: read at least that far, then
        # on until nothing more comes for a while (the tests read topics once they are quiet).
        records: list[Record] = []
        remaining = dict(ends)
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while remaining or time.monotonic() - quiet_since < quiet:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}: partitions {sorted(remaining)} not read to their end")
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(msg.error())
            quiet_since = time.monotonic()
            records.append(Record(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value() or b"",
                                  tuple(msg.headers() or ())))
            if msg.offset() + 1 >= remaining.get(msg.partition(), 0):
                remaining.pop(msg.partition(), None)
        return records
    finally:
        consumer.close()


def produce(bootstrap: str, records: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]],
            timeout: float = 30.0, partitions: list[int] | None = None) -> list[tuple[str, int, int]]:
    """Produce (topic, key, value, headers) records, acks=all, on the given partitions if any
    (librdkafka's default partitioner differs from aiokafka's murmur2); return (topic, partition, offset)."""
    producer = Producer(_config(bootstrap, **{"acks": "all", "message.max.bytes": 4_000_000,
                                              "enable.idempotence": False, "linger.ms": 5}))
    done: list = [None] * len(records)

    def delivered(index):
        def callback(err, msg):
            done[index] = err if err is not None else (msg.topic(), msg.partition(), msg.offset())
        return callback

    for index, (topic, key, value, headers) in enumerate(records):
        while True:
            try:
                extra = {} if partitions is None else {"partition": partitions[index]}
                producer.produce(topic, value, key=key, headers=headers, on_delivery=delivered(index), **extra)
                break
            except BufferError:
                producer.poll(0.1)
    left = producer.flush(timeout)
    if left:
        raise TimeoutError(f"{left} record(s) not acknowledged within {timeout}s")
    failed = [d for d in done if not isinstance(d, tuple)]
    if failed:
        raise RuntimeError(f"{len(failed)} record(s) refused by the broker: {failed[:3]}")
    return done


def committed_offsets(bootstrap: str, group: str, topics: list[str]) -> dict[tuple[str, int], int]:
    """The offsets `group` has committed (only partitions with a commit), read without joining it."""
    consumer = Consumer(_config(bootstrap, **{"group.id": group, "enable.auto.commit": False}))
    try:
        wanted = [TopicPartition(t, p) for t in topics for p in _partitions(consumer, t)]
        if not wanted:
            return {}
        result = consumer.committed(wanted, timeout=15)
        return {(tp.topic, tp.partition): tp.offset for tp in result if tp.offset >= 0}
    finally:
        consumer.close()


async def reset_group(bootstrap: str, group: str, topics: list[str], offset: int = 0, timeout: float = 60.0) -> int:
    """Commit `offset` on every partition of `topics` for `group`, whose members must all be stopped.

    The embedded broker refuses commits from outside the group (UNKNOWN_MEMBER_ID for librdkafka's
    and aiokafka's member-less commits), and librdkafka cannot join a group there: so an aiokafka
    consumer joins the group, waits until it alone holds every partition, commits, and leaves.
    Returns the number of partitions reset.
    """
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as AioTopicPartition
    from aiokafka.structs import OffsetAndMetadata

    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=1500)
    await consumer.start()
    try:
        wanted = {AioTopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())}
        deadline = time.monotonic() + timeout
        while not wanted or consumer.assignment() != wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{group}: assigned {len(consumer.assignment())} of {len(wanted)} partitions")
            await consumer.getmany(timeout_ms=200, max_records=1)  # drives the join; nothing is committed
            wanted = {AioTopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())}
        await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp in wanted})
        return len(wanted)
    finally:
        await consumer.stop()


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    meta = consumer.list_topics(topic, timeout=10)
    found = meta.topics.get(topic)
    return sorted(found.partitions) if found is not None and found.error is None else []
