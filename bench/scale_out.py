"""Measure 7: consume throughput of two progress instances in one consumer group against one.

For each run (one instance, then two) on a fresh broker (12 partitions) and database: the
instances are started and waited for until the group `parcours-progress` is Stable with
that many members, so that no rebalance happens during the timing; then N application.decided
admissions are published and the rate is taken between the first and the last commit.
Both instances share one PostgreSQL and the machine's cores with the broker and the load.
"""

from __future__ import annotations

import asyncio
import os
import random
import time

from aiokafka.admin import AIOKafkaAdminClient

from bench import payloads
from bench.infra import (
    CpuMeter,
    Infra,
    commit_groups,
    encode_all,
    log,
    preload,
    steady_rate,
    wait_for_count,
)
from bench.results import Result, failed
from shared.plumbing.kafka import client_options

TARGET = 1.6
GROUP = "parcours-progress"


async def group_stable(bootstrap: str, members: int, timeout: float) -> bool:
    admin = AIOKafkaAdminClient(**client_options(bootstrap))
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                for response in await admin.describe_consumer_groups([GROUP]):
                    for group in response.groups:
                        _, _, state, _, _, found = group[:6]
                        if state == "Stable" and len(found) == members:
                            return True
            except Exception:  # noqa: BLE001 - not yet known to the coordinator
                pass
            await asyncio.sleep(0.5)
        return False
    finally:
        await admin.close()


async def run(infra: Infra, n: int, instances: int, timeout: float) -> dict:
    rng = random.Random(f"scale-{instances}")
    infra.bootstrap = await infra.new_broker()
    dsn = await infra.new_database(f"bench_scale{instances}", "services.progress")
    procs = [infra.start_service("progress", dsn, infra.bootstrap, tag=f"-x{instances}") for _ in range(instances)]
    try:
        for proc in procs:
            await proc.wait_ready()
        stable = await group_stable(infra.bootstrap, instances, 30)
        await asyncio.sleep(1.0)
        programme_ids = [p.programme_id for p in payloads.programmes(40, rng)]
        records = encode_all(payloads.decided(payloads.admissions(n, programme_ids, rng)))
        with infra.profiling(f"scale-out-x{instances}"):
            meter = CpuMeter(infra)
            meter.start()
            load_seconds = await preload(infra.bootstrap, records)
            got = await wait_for_count(dsn, "SELECT count(*) FROM processed_events", n, timeout)
            cpu = meter.stop()
    finally:
        infra.stop_services()
    groups = await commit_groups(dsn, "processed_events", infra.commit_timestamps)
    rate, seconds, counted = steady_rate(groups)
    await infra.drop_database(dsn)
    return {"rate": rate, "seconds": seconds, "events": got, "complete": got >= n, "group_stable": stable,
            "publish_seconds": load_seconds, "transactions": len(groups), "cpu": cpu}


async def measure(infra: Infra, n: int, timeout: float) -> list[Result]:
    name = "scale_out.progress_2x"
    try:
        one = await run(infra, n, 1, timeout)
        log(f"  one instance: {one['rate']:.0f} events/s")
        two = await run(infra, n, 2, timeout)
        log(f"  two instances: {two['rate']:.0f} events/s")
        cores = os.cpu_count() or 1
        busy = one["cpu"]["all_processes_cores"]
        notes = []
        if cores <= 2 and two["rate"] < TARGET * one["rate"]:
            notes.append(f"{cores} cores: one instance already keeps {busy:.1f} of {cores} cores busy "
                         "(service + PostgreSQL + broker), so a second instance has little CPU to add")
        if not (one["complete"] and two["complete"]):
            notes.append("a run did not apply every event in time")
        return [Result(name, two["rate"], "events/s", target=TARGET, compare="ratio", baseline=one["rate"],
                       baseline_name="one instance", met=None if one["complete"] and two["complete"] else False,
                       note="; ".join(notes), details={"events": n, "partitions": 12, "one": one, "two": two})]
    except Exception as exc:  # noqa: BLE001
        log(f"  {name} failed: {type(exc).__name__}: {exc}")
        infra.stop_services()
        return [failed(name, "events/s", f"{type(exc).__name__}: {exc}", TARGET, compare="ratio",
                       baseline_name="one instance")]
