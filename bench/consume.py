"""Measures 1 and 2: each consuming service's consume-to-durable throughput against the raw ceiling.

A fresh broker is pre-loaded with N realistic events (application.decided admissions for
progress, a month-by-month mix of training.* events for outcomes). The raw ceiling consumes
them (its own consumer group), then the real service is started as a process
(`python -m services.<name>`, its own group) and timed until its `processed_events` holds N
rows; the two take turns three times and their medians are compared.
Intake consumes no topic, so it has no consume measure (its ingestion is in measure 5).

The rate is taken between the first and the last commit of the consumer's transactions
(exact commit times from PostgreSQL's track_commit_timestamp), so start-up and the consumer
group join are not counted; the wall time including them is in the details.
"""

from __future__ import annotations

import random
import statistics
import time

from bench import payloads
from bench.ceiling import raw_ceiling
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
from shared.contracts.topics import consumed_by

TARGET = 0.5


def events_for(service: str, n: int, rng: random.Random) -> list:
    programme_ids = [p.programme_id for p in payloads.programmes(40, rng)]
    if service == "progress":
        return payloads.decided(payloads.admissions(n, programme_ids, rng))
    if service == "outcomes":
        pairs = payloads.admissions(n // 4 + 10, programme_ids, rng)
        return payloads.training(pairs, rng, n)
    raise ValueError(service)


async def run_service(infra: Infra, service: str, n: int, timeout: float, group_suffix: str) -> dict:
    """Start the service as a process on a migrated database, in its own consumer group; wait for N
    processed events."""
    dsn = await infra.new_database(f"bench_{service}", f"services.{service}")
    started = time.monotonic()
    infra.start_service(service, dsn, infra.bootstrap, {"PARCOURS_CONSUMER_GROUP_SUFFIX": group_suffix})
    try:
        # CPU is metered from the first applied event to the last: start-up is left out.
        got = await wait_for_count(dsn, "SELECT count(*) FROM processed_events", 1, timeout, interval=0.05)
        with infra.profiling(f"consume-{service}"):
            meter = CpuMeter(infra)
            meter.start()
            got = await wait_for_count(dsn, "SELECT count(*) FROM processed_events", n, timeout)
            wall = time.monotonic() - started
            cpu = meter.stop()
    finally:
        infra.stop_services()
    groups = await commit_groups(dsn, "processed_events", infra.commit_timestamps)
    rate, seconds, counted = steady_rate(groups)
    await infra.drop_database(dsn)
    return {"rate": rate, "seconds": seconds, "events": got, "transactions": len(groups),
            "events_per_transaction": round(got / max(1, len(groups)), 1), "wall_seconds_with_startup": wall,
            "complete": got >= n, "cpu": cpu}


async def measure(infra: Infra, n: int, timeout: float, runs: int = 3) -> list[Result]:
    """Ceiling and service in turns, `runs` times each on the same records; medians compared.

    One pass of the ceiling lasts about a second and has ranged from 44,000 to 88,000 events/s
    on the same machine within minutes: a single pass against a single pass made the ratio
    a draw. The turns spread whatever else the machine does over both sides.
    """
    results = []
    for service in ("progress", "outcomes"):
        name = f"consume.{service}"
        try:
            rng = random.Random(f"consume-{service}")
            infra.bootstrap = await infra.new_broker()
            records = encode_all(events_for(service, n, rng))
            load_seconds = await preload(infra.bootstrap, records)
            topics = sorted({r[0] for r in records})
            log(f"  {service}: {n} events pre-loaded on {', '.join(topics)} in {load_seconds:.1f}s")
            ceilings, services = [], []
            for run in range(1, runs + 1):
                ceiling = await raw_ceiling(infra, infra.bootstrap, consumed_by(service), n, timeout)
                svc = await run_service(infra, service, n, timeout, group_suffix=f"-bench{run}")
                log(f"  {service} pass {run}/{runs}: ceiling {ceiling['rate']:.0f}, service {svc['rate']:.0f} "
                    f"events/s ({svc['events']}/{n})")
                ceilings.append(ceiling)
                services.append(svc)
                if not svc["complete"]:
                    break
            complete = all(s["complete"] for s in services)
            incomplete = next((s for s in services if not s["complete"]), None)
            note = "" if complete else f"only {incomplete['events']} of {n} applied within {timeout:.0f}s"
            results.append(Result(
                name, _median([s["rate"] for s in services]), "events/s", target=TARGET, compare="ratio",
                baseline=_median([c["rate"] for c in ceilings]), baseline_name="raw ceiling", note=note,
                met=None if complete else False,
                details={"events": n, "topics": topics, "passes": len(services), "payload_bytes_avg": round(
                    sum(len(r[2]) for r in records) / len(records)),
                    "service_rates": [round(s["rate"]) for s in services],
                    "ceiling_rates": [round(c["rate"]) for c in ceilings],
                    "service": services, "ceiling": ceilings},
            ))
        except Exception as exc:  # noqa: BLE001 - one failed measure must not stop the others
            log(f"  {name} failed: {type(exc).__name__}: {exc}")
            results.append(failed(name, "events/s", f"{type(exc).__name__}: {exc}", TARGET, compare="ratio",
                                  baseline_name="raw ceiling"))
        finally:
            infra.stop_services()
    return results


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
