"""Helpers for integration tests: run a service in-process, publish and read events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.contracts import Envelope, decode_event, encode_event, topic_for


@asynccontextmanager
async def running(app):
    """Start the app's lifespan (pool, relay, consumers) and give an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def publish(bootstrap: str, events: list[Envelope], raw: list[tuple[str, bytes, list]] | None = None) -> None:
    """Publish events (and optional raw records: topic, value, headers) as a producer service would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            key, value, headers = encode_event(event)
            await producer.send_and_wait(topic_for(event.event_type), value, key=key, headers=headers)
        for topic, value, headers in raw or []:
            await producer.send_and_wait(topic, value, key=b"poison", headers=headers)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, timeout: float = 5.0) -> list:
    """Every record currently on a topic, from the beginning (no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        records = []
        deadline = time.monotonic() + timeout
        while True:
            positions = [await consumer.position(tp) for tp in partitions]
            if all(pos >= ends[tp] for pos, tp in zip(positions, partitions, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
            if time.monotonic() > deadline:
                break
        return records
    finally:
        await consumer.stop()


def events_of(records) -> list[Envelope]:
    return [decode_event(r.value, r.headers) for r in records]


async def eventually(check: Callable[[], Awaitable], timeout: float = 30.0, interval: float = 0.2):
    """Wait until `check()` returns something truthy; return it, or fail with the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")
