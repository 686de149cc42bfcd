"""Measure 5: end-to-end latency, from an accepted POST at intake to the outcomes projection updated.

The three services run as processes on fresh databases and a fresh broker. Applications are
offered to intake at a fixed rate (1,000 events/s: `POST /applications/batch` with 10
applications every 10 ms, open loop). For each application the clock starts when intake's
2xx arrives (the transaction and its outbox row are committed) and stops when outcomes
commits the application.submitted event in its `processed_events` (exact commit time from
PostgreSQL's track_commit_timestamp; the event id is found through intake's outbox).
The path is outbox → relay → Kafka → outcomes consumer → projection + inbox, one commit.
Before the measured load, a light load (50 applications/s, one per request) gives the
pipeline's own latency far from saturation (`e2e.p50_light_load`, under 50 ms).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bench import payloads
from bench.httpload import Client, fixed_rate
from bench.infra import CpuMeter, Infra, api_key_headers, gc_pauses, log, percentile, wait_for_count
from bench.results import Result, failed

TARGET_MS = 1000.0
RATE = 1000.0
LIGHT_RATE = 50.0
LIGHT_TARGET_MS = 50.0  # the waits a service lengthens at rest must not be felt under a light load

EVENT_IDS = """
SELECT event_id, convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'application_id' AS application_id
FROM outbox WHERE event_type = 'application.submitted'
"""
COMMITS = """
SELECT event_id, extract(epoch FROM {stamp}) AS t FROM processed_events
WHERE event_type = 'application.submitted'
"""


async def _rows(dsn: str, sql: str) -> list:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def measure(infra: Infra, seconds: float, batch: int = 10, rate: float = RATE,
                  drain_timeout: float = 60.0, light_seconds: float = 4.0) -> list[Result]:
    name = "e2e.p99"
    try:
        rng = random.Random("e2e")
        infra.bootstrap = await infra.new_broker()
        dsns = {s: await infra.new_database(f"bench_e2e_{s}", f"services.{s}")
                for s in ("intake", "progress", "outcomes")}
        headers = await api_key_headers(list(dsns.values()))
        services = {s: infra.start_service(s, dsn, infra.bootstrap, tag="-e2e") for s, dsn in dsns.items()}
        for svc in services.values():
            await svc.wait_ready()
        intake = Client(services["intake"].url, 64, headers)
        try:
            programme_ids = []
            for p in payloads.programmes(20, rng):
                d = p.data
                body = {"programme_id": str(p.programme_id), "centre_id": str(d.centre_id),
                        "centre_name": d.centre_name, "title": d.title, "region": d.region,
                        "departement": payloads.DEPARTEMENT[d.region],
                        "job_family": d.job_family, "duration_months": d.duration_months, "capacity": 40,
                        "start_date": d.start_date.isoformat()}
                status, text = await intake.request("POST", "/programmes", body)
                if status not in (200, 201):
                    raise RuntimeError(f"programme refused: {status} {text[:200]!r}")
                programme_ids.append(str(p.programme_id))
            await wait_for_count(dsns["outcomes"], "SELECT count(*) FROM processed_events", 20, 60)

            submitted = (datetime.now(UTC) - timedelta(days=30)).isoformat()
            tag = uuid.uuid4().hex[:6]
            counter = iter(range(10**9))

            def maker(size: int):
                def make(i: int):
                    items = [{"programme_id": programme_ids[k % len(programme_ids)], "submitted_at": submitted,
                              "candidate": payloads.candidate(k, rng, tag)}
                             for k in (next(counter) for _ in range(size))]
                    return "POST", "/applications/batch", {"items": items}
                return make

            make = maker(batch)
            accepted: dict[str, float] = {}

            def keep(i: int, data: bytes, at: float) -> None:
                for r in json.loads(data)["results"]:
                    if r["result"] == "created":
                        accepted[r["application_id"]] = at

            await fixed_rate(intake, rate / batch / 5, 1.0, make, keep=keep)  # warm-up
            # Light load first (one application per request, 50/s): the pipeline's own latency.
            before_light = set(accepted)
            await fixed_rate(intake, LIGHT_RATE, light_seconds, maker(1), keep=keep)
            light = {a: t for a, t in accepted.items() if a not in before_light}
            await wait_for_count(
                dsns["outcomes"], "SELECT count(*) FROM processed_events WHERE event_type = 'application.submitted'",
                len(accepted), drain_timeout)
            warm = set(accepted)
            with infra.profiling("e2e"):
                meter = CpuMeter(infra)
                meter.start()
                load_started = time.time()
                load = await fixed_rate(intake, rate / batch, seconds, make, keep=keep)
                offered_cpu = meter.stop()
                gc = {s: gc_pauses(infra, svc.pid, load_started, time.time()) for s, svc in services.items()}
            measured = {a: t for a, t in accepted.items() if a not in warm}
            log(f"  {len(measured)} applications accepted in {load.seconds:.1f}s; waiting for outcomes")
            drain_started = time.monotonic()
            got = await wait_for_count(
                dsns["outcomes"], "SELECT count(*) FROM processed_events WHERE event_type = 'application.submitted'",
                len(accepted), drain_timeout)
            drain = time.monotonic() - drain_started
        finally:
            await intake.close()
            infra.stop_services()
        ids = {r["application_id"]: r["event_id"] for r in await _rows(dsns["intake"], EVENT_IDS)}
        stamp = "pg_xact_commit_timestamp(xmin)" if infra.commit_timestamps else "processed_at"
        commits = {r["event_id"]: float(r["t"]) for r in await _rows(dsns["outcomes"], COMMITS.format(stamp=stamp))}
        for dsn in dsns.values():
            await infra.drop_database(dsn)
        def latencies_of(applications: dict[str, float]) -> tuple[list[float], int]:
            out, lost = [], 0
            for application_id, at in applications.items():
                t = commits.get(ids.get(application_id))
                if t is None:
                    lost += 1
                    out.append(float("inf"))
                else:
                    out.append(t - at)
            return out, lost

        latencies, missing = latencies_of(measured)
        light_latencies, _ = latencies_of(light)
        light_p50 = percentile(light_latencies, 50) * 1000
        light_p99 = percentile(light_latencies, 99) * 1000
        finite = [x for x in latencies if x != float("inf")]
        p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
        achieved = len(measured) / load.seconds
        log(f"  e2e: p50 {p50:.0f} ms, p99 {p99:.0f} ms, {achieved:.0f} events/s accepted, {missing} missing")
        details = {
            "offered_events_per_s": rate, "batch": batch, "seconds": seconds, "accepted": len(measured),
            "accepted_events_per_s": achieved, "http_errors": load.errors, "missing_after_drain": missing,
            "drain_seconds": drain, "outcomes_applied": got,
            "p50_ms": p50, "p90_ms": percentile(latencies, 90) * 1000, "p99_ms": p99,
            "max_ms": max(finite, default=0) * 1000, "min_ms": min(finite, default=0) * 1000,
            "intake_http_p50_ms": percentile(load.latencies, 50) * 1000,
            "intake_http_p99_ms": percentile(load.latencies, 99) * 1000, "cpu": offered_cpu, "gc": gc,
        }
        short = achieved < 0.95 * rate
        note = []
        if short:
            note.append(f"intake accepted only {achieved:.0f} of {rate:.0f} events/s offered")
        if missing:
            note.append(f"{missing} events not in outcomes {drain_timeout:.0f}s after the load")
        p99_value = None if p99 == float("inf") else p99
        return [
            Result(name, p99_value, "ms", target=TARGET_MS, op="<", met=None if not (short or missing) else False,
                   note="; ".join(note), details=details),
            Result("e2e.p50", None if p50 == float("inf") else p50, "ms", details={"offered_events_per_s": rate}),
            Result("e2e.p50_light_load", None if light_p50 == float("inf") else light_p50, "ms",
                   target=LIGHT_TARGET_MS, op="<",
                   details={"offered_events_per_s": LIGHT_RATE, "batch": 1, "events": len(light),
                            "p99_ms": light_p99, "min_ms": min(light_latencies, default=0) * 1000,
                            "meaning": "the pipeline's own latency, far from saturation"}),
        ]
    except Exception as exc:  # noqa: BLE001
        log(f"  e2e failed: {type(exc).__name__}: {exc}")
        infra.stop_services()
        return [failed(name, "ms", f"{type(exc).__name__}: {exc}", TARGET_MS, "<"),
                failed("e2e.p50", "ms", f"{type(exc).__name__}: {exc}"),
                failed("e2e.p50_light_load", "ms", f"{type(exc).__name__}: {exc}")]
