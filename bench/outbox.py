"""Measure 3: the outbox relay against bare aiokafka producing the same records.

N training events are queued with `shared.plumbing.outbox.add_events` in a migrated
database (1,000 per transaction, untimed), then `OutboxRelay.relay_once` is called in a loop
until the outbox is drained (timed). The baseline is a bare aiokafka producer with the
services' producer settings (`shared.plumbing.kafka.make_producer`: acks=all, linger 5 ms)
sending the same N records and gathering the futures. Both run in this process, one after
the other, on the same fresh broker.
"""

from __future__ import annotations

import random
import time

from prometheus_client import CollectorRegistry

from bench import payloads
from bench.infra import CpuMeter, Infra, encode_all, fetchval, log, preload
from bench.results import Result, failed
from shared.plumbing.db import create_pool
from shared.plumbing.kafka import make_producer
from shared.plumbing.metrics import PlumbingMetrics
from shared.plumbing.outbox import OutboxRelay, add_events
from shared.plumbing.settings import ServiceSettings

TARGET = 0.5


async def measure(infra: Infra, n: int, timeout: float) -> list[Result]:
    name = "outbox.relay"
    try:
        rng = random.Random("outbox")
        infra.bootstrap = await infra.new_broker()
        programme_ids = [p.programme_id for p in payloads.programmes(40, rng)]
        events = payloads.training(payloads.admissions(n // 4 + 10, programme_ids, rng), rng, n)
        records = encode_all(events)

        producer = make_producer(infra.bootstrap)
        await producer.start()
        try:
            await preload(infra.bootstrap, records[:1000], producer)  # warm-up: connections, metadata
            meter = CpuMeter(infra)
            meter.start()
            bare_seconds = await preload(infra.bootstrap, records, producer)
            bare_cpu = meter.stop()
        finally:
            await producer.stop()
        bare_rate = n / bare_seconds
        log(f"  bare aiokafka: {bare_rate:.0f} records/s")

        dsn = await infra.new_database("bench_outbox", "services.progress")
        pool = await create_pool(dsn, 4)
        try:
            insert_started = time.perf_counter()
            for start in range(0, n, 1000):
                async with pool.acquire() as conn, conn.transaction():
                    await add_events(conn, events[start:start + 1000])
            insert_seconds = time.perf_counter() - insert_started
            batch_size = ServiceSettings().relay_batch_size
            producer = make_producer(infra.bootstrap)
            await producer.start()
            relay = OutboxRelay(pool, producer, PlumbingMetrics(CollectorRegistry()), batch_size=batch_size)
            try:
                with infra.profiling("outbox-relay", harness=True):  # the relay runs in this process
                    meter = CpuMeter(infra)
                    meter.start()
                    started = time.perf_counter()
                    sent, rounds = 0, 0
                    deadline = time.monotonic() + timeout
                    while sent < n and time.monotonic() < deadline:
                        got = await relay.relay_once()
                        sent += got
                        rounds += 1
                    relay_seconds = time.perf_counter() - started
                    relay_cpu = meter.stop()
            finally:
                await producer.stop()
            left = await fetchval(dsn, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        finally:
            await pool.close()
        await infra.drop_database(dsn)
        relay_rate = sent / relay_seconds
        log(f"  outbox relay: {relay_rate:.0f} rows/s ({sent}/{n}, {left} left)")
        return [Result(
            name, relay_rate, "events/s", target=TARGET, compare="ratio", baseline=bare_rate,
            baseline_name="bare aiokafka", met=None if left == 0 else False,
            note="" if left == 0 else f"{left} rows left unpublished after {timeout:.0f}s",
            details={"events": n, "relay_batch_size": batch_size, "relay_rounds": rounds,
                     "relay_seconds": relay_seconds, "bare_seconds": bare_seconds,
                     "outbox_insert_seconds": insert_seconds, "outbox_insert_rate": n / insert_seconds,
                     "relay_cpu": relay_cpu, "bare_cpu": bare_cpu},
        )]
    except Exception as exc:  # noqa: BLE001
        log(f"  {name} failed: {type(exc).__name__}: {exc}")
        return [failed(name, "events/s", f"{type(exc).__name__}: {exc}", TARGET, compare="ratio",
                       baseline_name="bare aiokafka")]
