"""Part of measure 5: the broker hop alone, produce → consume, with bare aiokafka clients.

One message every 130 ms (far from any batching) is produced with the services' producer
settings and read by a consumer in a group, first with aiokafka's default fetch_max_wait_ms
(500, what the services' FastStream subscriber uses), then with 20 ms. The difference is the
time the broker holds a fetch before answering, which the end-to-end latency pays per hop.
No target: it explains `e2e.p50_light_load`.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer

from bench.infra import Infra, log, percentile
from bench.results import Result, failed
from shared.plumbing.kafka import client_options, make_producer

TOPIC = "parcours.training"


async def _one(bootstrap: str, fetch_max_wait_ms: int | None, messages: int) -> dict:
    producer = make_producer(bootstrap)
    extra = {} if fetch_max_wait_ms is None else {"fetch_max_wait_ms": fetch_max_wait_ms}
    consumer = AIOKafkaConsumer(TOPIC, **client_options(bootstrap), group_id=f"bench-lat-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="latest", enable_auto_commit=False, **extra)
    await producer.start()
    await consumer.start()
    try:
        deadline = time.monotonic() + 20
        while not consumer.assignment() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await consumer.seek_to_end()
        await asyncio.sleep(0.5)
        latencies: list[float] = []

        async def read() -> None:
            while len(latencies) < messages:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    now = time.time()
                    latencies.extend(now - float(r.value.decode()) for r in records)

        reader = asyncio.create_task(read())
        for i in range(messages):
            await producer.send(TOPIC, str(time.time()).encode(), key=str(i).encode())
            await asyncio.sleep(0.13)
        await asyncio.wait_for(reader, 15)
    finally:
        await consumer.stop()
        await producer.stop()
    return {"p50_ms": percentile(latencies, 50) * 1000, "p90_ms": percentile(latencies, 90) * 1000,
            "max_ms": max(latencies) * 1000, "min_ms": min(latencies) * 1000, "messages": len(latencies)}


async def measure(infra: Infra, messages: int = 30) -> list[Result]:
    name = "kafka.produce_to_consume_p50"
    try:
        infra.bootstrap = await infra.new_broker()
        default = await _one(infra.bootstrap, None, messages)
        short = await _one(infra.bootstrap, 20, messages)
        log(f"  produce -> consume: p50 {default['p50_ms']:.0f} ms with aiokafka's default fetch wait, "
            f"{short['p50_ms']:.0f} ms with fetch_max_wait_ms=20")
        return [Result(name, default["p50_ms"], "ms", details={
            "fetch_max_wait_ms_default_500": default, "fetch_max_wait_ms_20": short,
            "meaning": "one broker hop with bare clients; the services' subscriber uses the default"})]
    except Exception as exc:  # noqa: BLE001
        log(f"  {name} failed: {type(exc).__name__}: {exc}")
        return [failed(name, "ms", f"{type(exc).__name__}: {exc}")]
