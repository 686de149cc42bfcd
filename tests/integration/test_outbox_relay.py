"""The outbox relay on a real broker and PostgreSQL: rows it can never send do not hold back the rest."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from shared.plumbing.db import create_pool
from shared.plumbing.kafka import make_producer
from shared.plumbing.metrics import PlumbingMetrics
from shared.plumbing.outbox import OutboxRelay, add_rows
from tests.integration.helpers import read_topic

pytestmark = pytest.mark.integration

TOPIC = "parcours.outcomes.dlq"  # a topic nothing in the suite consumes


@pytest.fixture
def dsn(new_database):
    return new_database("services.outcomes")


async def test_a_row_too_large_for_the_broker_is_set_aside_and_later_rows_still_leave(dsn, kafka):
    marker = uuid.uuid4().hex.encode()
    rows = [(TOPIC, marker, b"before", [["n", "1"]], None, "test"),
            (TOPIC, marker, b"x" * 1_100_000, [["n", "2"]], None, "test"),  # over max_request_size
            (TOPIC, marker, b"after", [["n", "3"]], None, "test")]
    pool = await create_pool(dsn, 2)
    producer = make_producer(kafka)
    await producer.start()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await add_rows(conn, rows)
        registry = CollectorRegistry()
        relay = OutboxRelay(pool, producer, PlumbingMetrics(registry))
        assert await relay.relay_once() == 3
        assert await relay.relay_once() == 0  # nothing left to retry

        state = await pool.fetch("SELECT payload, published_at IS NOT NULL AS done, unsendable FROM outbox ORDER BY id")
        assert [(r["done"], r["unsendable"] is not None) for r in state] == [(True, False), (True, True), (True, False)]
        assert "MessageSizeTooLargeError" in state[1]["unsendable"]
        assert len(state[1]["payload"]) == 1_100_000  # kept for an operator
        assert registry.get_sample_value("parcours_outbox_unsendable_total", {"topic": TOPIC}) == 1
        assert registry.get_sample_value("parcours_outbox_published_total") == 2

        on_topic = [r.value for r in await read_topic(kafka, TOPIC) if r.key == marker]
        assert on_topic == [b"before", b"after"]
    finally:
        await producer.stop()
        await pool.close()


async def test_the_backlog_does_not_count_rows_set_aside(dsn):
    from shared.plumbing.outbox import backlog

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO outbox (topic, payload, published_at, unsendable) "
                           "VALUES ('t', 'x', now(), 'MessageSizeTooLargeError: too large')")
    finally:
        await conn.close()
    pool = await create_pool(dsn, 1)
    try:
        assert (await backlog(pool))[0] == 0
    finally:
        await pool.close()


async def test_a_committed_row_wakes_the_relay_without_waiting_for_its_poll(dsn, kafka):
    """Woken when the connection that queued the row is released, after its commit: with a poll
    of 30 s, a committed row still leaves within a second, and not a moment before the commit."""
    import asyncio
    import time

    marker = uuid.uuid4().hex.encode()
    relay = None
    pool = await create_pool(dsn, 2, on_outbox_rows=lambda: relay.wake())
    producer = make_producer(kafka)
    await producer.start()
    relay = OutboxRelay(pool, producer, PlumbingMetrics(CollectorRegistry()), idle_seconds=30)
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.5)  # the relay's first round found nothing and waits for 30 s
        async with pool.acquire() as conn, conn.transaction():
            await add_rows(conn, [(TOPIC, marker, b"now", [], None, "test")])
            await asyncio.sleep(0.3)  # not committed yet: nothing may leave
            assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") == 0
        committed = time.monotonic()
        while not await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"):
            assert time.monotonic() - committed < 1.0, "the relay was not woken by the commit"
            await asyncio.sleep(0.01)
        assert [r.value for r in await read_topic(kafka, TOPIC) if r.key == marker] == [b"now"]
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await producer.stop()
        await pool.close()


async def test_a_batch_queued_by_copy_and_a_few_rows_by_insert_leave_alike_in_order_with_their_headers(dsn, kafka):
    """From 50 rows the outbox is written with COPY, below with one INSERT: both keep the rows'
    order, their headers and Kafka's partitioning by key."""
    from aiokafka.partitioner import DefaultPartitioner

    keys = [uuid.uuid4().hex.encode() for _ in range(3)]
    batch = [(TOPIC, keys[n % 3], f"batch {n}".encode(), [["n", str(n)]], uuid.uuid4(), "test") for n in range(60)]
    few = [(TOPIC, keys[0], f"few {n}".encode(), [["n", f"few {n}"]], None, "test") for n in range(3)]
    pool = await create_pool(dsn, 2)
    producer = make_producer(kafka)
    await producer.start()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await add_rows(conn, batch)
        async with pool.acquire() as conn, conn.transaction():
            await add_rows(conn, few)
        relay = OutboxRelay(pool, producer, PlumbingMetrics(CollectorRegistry()))
        assert await relay.relay_once() == 63

        on_topic = [r for r in await read_topic(kafka, TOPIC) if r.key in keys]
        for k, key in enumerate(keys):
            mine = [r for r in on_topic if r.key == key]
            expected = [f"batch {n}".encode() for n in range(k, 60, 3)] + ([f"few {n}".encode() for n in range(3)]
                                                                          if k == 0 else [])
            assert [r.value for r in mine] == expected
            partitions = sorted(producer._metadata.partitions_for_topic(TOPIC))
            assert {r.partition for r in mine} == {DefaultPartitioner()(key, partitions, partitions)}
        headers = {r.value: dict(r.headers) for r in on_topic}
        assert headers[b"batch 7"]["n"] == b"7" and headers[b"batch 8"]["n"] == b"8"
        assert headers[b"few 2"]["n"] == b"few 2"
    finally:
        await producer.stop()
        await pool.close()
