"""Measure 1, the raw ceiling: a bare aiokafka consumer, asyncpg COPY, commit, offsets.

No framework, no pydantic, no per-event SQL: each fetched batch (same size as the
services' batches) is copied into an inbox-like table keyed by event_id in one
transaction, then the offsets are committed. This is what the machine can do for
"consume to durable" with the same payloads; the services are compared with it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.infra import CpuMeter, Infra, commit_groups, steady_rate
from shared.plumbing.kafka import client_options
from shared.plumbing.settings import ServiceSettings

TABLE = """
CREATE TABLE IF NOT EXISTS ceiling_inbox (
    event_id    uuid PRIMARY KEY,
    event_type  text   NOT NULL,
    topic       text   NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    payload     bytea  NOT NULL
)
"""
COLUMNS = ["event_id", "event_type", "topic", "partition", "offset", "payload"]


def _event_type(headers) -> str:
    for key, value in headers or ():
        if key == "event_type":
            return value.decode()
    return ""


async def raw_ceiling(infra: Infra, bootstrap: str, topics: list[str], expected: int, timeout: float) -> dict:
    """Consume `expected` records from `topics` into PostgreSQL; return the steady rate and details.

    Batch size and fetch wait are the services' own (their settings): with aiokafka's default wait (500 ms) the
    embedded broker holds a fetch that long whenever a partition runs dry, and the ceiling
    measured the wait rather than the machine.
    """
    settings = ServiceSettings()
    batch_size = settings.consumer_batch_size
    dsn = await infra.new_database("ceiling")
    conn = await asyncpg.connect(dsn)
    await conn.execute(TABLE)
    consumer = AIOKafkaConsumer(
        *topics, **client_options(bootstrap), group_id=f"bench-ceiling-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=batch_size,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
    )
    started = time.perf_counter()
    await consumer.start()
    total = 0
    batches = 0
    local: list[tuple[float, int]] = []
    meter = CpuMeter(infra)
    try:
        deadline = time.monotonic() + timeout
        while total < expected and time.monotonic() < deadline:
            fetched = await consumer.getmany(timeout_ms=100, max_records=batch_size)
            records = [r for recs in fetched.values() for r in recs]
            if not records:
                continue
            if not batches:
                meter.start()
            rows = [(uuid.UUID(json.loads(r.value)["event_id"]), _event_type(r.headers), r.topic, r.partition,
                     r.offset, r.value) for r in records]
            async with conn.transaction():
                await conn.copy_records_to_table("ceiling_inbox", records=rows, columns=COLUMNS)
            await consumer.commit()
            total += len(rows)
            batches += 1
            local.append((time.time(), len(rows)))
        cpu = meter.stop() if batches else {}
    finally:
        wall = time.perf_counter() - started
        await asyncio.wait_for(consumer.stop(), 10)
        await conn.close()
    groups = await commit_groups(dsn, "ceiling_inbox", True) if infra.commit_timestamps else local
    rate, seconds, counted = steady_rate(groups)
    await infra.drop_database(dsn)
    return {"rate": rate, "seconds": seconds, "events": total, "batches": batches, "wall_seconds": wall,
            "complete": total >= expected, "cpu": cpu}
