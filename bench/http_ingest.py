"""Measure 4: HTTP ingestion at progress (`POST /facts` and `POST /facts/batch`).

Progress runs as a process on a fresh database and broker. L learners are admitted first
by publishing programme.registered and application.decided events and waiting until
`GET /enrolments/summary` counts them. Then, against the real HTTP server:

- batch: W clients (one per centre, each with its own learners, as centres post) send
  batches of 1,000 facts back to back: first every learner's `started`, then weekly
  `attendance` in date order, one fact in 20 three weeks late (placed at its date by replaying
  the learner's history); facts/s accepted;
- single at a fixed offered rate (500 req/s, open loop, latency from when each request was
  due): `attendance` facts with a client-chosen event_id, as the simulator posts them;
  p50/p99 and the rate achieved;
- single, closed loop (32 clients back to back): the most single-fact requests per second.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench import payloads
from bench.httpload import Client, closed_loop, fixed_rate
from bench.infra import (
    CpuMeter,
    Infra,
    api_key_headers,
    encode_all,
    gc_pauses,
    log,
    percentile,
    preload,
    wait_for_zero,
    wait_until,
)
from bench.results import Result, failed

BATCH_TARGET = 10_000.0
P99_TARGET_MS = 50.0
SINGLE_RATE = 500.0
START = datetime(2020, 3, 2, tzinfo=UTC)  # the day the batch phase's learners start
LATE_EVERY = 20  # one attendance fact in 20 arrives late


def _fact(learner, programme, type_: str, at: str, **extra) -> dict:
    return {"event_id": str(uuid.uuid4()), "learner_id": str(learner), "programme_id": str(programme),
            "type": type_, "occurred_at": at, **extra}


async def admit(infra: Infra, url: str, n: int, rng: random.Random, timeout: float,
                headers: dict | None = None) -> list[tuple]:
    """Admit n learners through Kafka, as intake would; wait until progress has every enrolment."""
    programmes = payloads.programmes(40, rng)
    pairs = payloads.admissions(n, [p.programme_id for p in programmes], rng)
    await preload(infra.bootstrap, encode_all(programmes + payloads.decided(pairs)))
    client = Client(url, 2, headers)
    try:
        async def enrolled():
            status, body = await client.request("GET", "/enrolments/summary")
            if status != 200:
                raise RuntimeError(f"GET /enrolments/summary answered {status}: {body[:200]!r}")
            return json.loads(body)["total"] >= n
        await wait_until(enrolled, timeout, 0.3, "enrolments")
    finally:
        await client.close()
    return pairs


async def measure(infra: Infra, learners: int, workers: int, batch_seconds: float, single_seconds: float,
                  max_seconds: float, timeout: float) -> list[Result]:
    names = ("http.batch", "http.single.p99", "http.single.p50", "http.single.max_throughput")
    try:
        rng = random.Random("http")
        infra.bootstrap = await infra.new_broker()
        dsn = await infra.new_database("bench_progress_http", "services.progress")
        headers = await api_key_headers([dsn])
        svc = infra.start_service("progress", dsn, infra.bootstrap)
        await svc.wait_ready()
        pairs = await admit(infra, svc.url, learners, rng, timeout, headers)
        log(f"  {learners} learners admitted; batch POSTs")
        client = Client(svc.url, 64, headers)
        try:
            # --- batch ---
            owned = [pairs[w::workers] for w in range(workers)]
            started_flags = [0] * workers

            def next_batch(w: int, i: int):
                mine = owned[w]
                chunk = []
                while len(chunk) < 1000:
                    k = started_flags[w]
                    learner, programme = mine[k % len(mine)]
                    if k < len(mine):
                        chunk.append(_fact(learner, programme, "started", "2020-03-02T09:00:00Z"))
                    else:
                        # A week of attendance per fact, in date order as centres post it, except one
                        # in LATE_EVERY sent three weeks late: placed at its date by replaying history.
                        week = k // len(mine) - (3 if k % LATE_EVERY == 0 else 0)
                        at = START + timedelta(weeks=max(week, 0), days=4, hours=9)
                        chunk.append(_fact(learner, programme, "attendance", at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                           hours=float(rng.randint(20, 35))))
                    started_flags[w] += 1
                return "POST", "/facts/batch", {"items": chunk}

            with infra.profiling("http-batch"):
                meter = CpuMeter(infra)
                meter.start()
                batch = await closed_loop(client, workers, batch_seconds, next_batch, ok_status=(200,),
                                          count_items=lambda data: json.loads(data)["accepted"])
                batch_cpu = meter.stop()
            batch_rate = batch.items_ok / batch.seconds
            log(f"  batch: {batch_rate:.0f} facts/s; single-fact POSTs at {SINGLE_RATE:.0f} req/s")
            # every learner has started by now (or the batch phase was too short: start the rest)
            for w in range(workers):
                while started_flags[w] < len(owned[w]):
                    await client.request(*next_batch(w, 0))
            # Let the relay publish what the batches queued, so the single-fact phase is steady state.
            drain_started = time.monotonic()
            backlog = await wait_for_zero(dsn, "SELECT count(*) FROM outbox WHERE published_at IS NULL", timeout)
            drain_seconds = time.monotonic() - drain_started
            # The batch phase left the server with a checkpoint's worth of dirty pages and dead rows:
            # flushed now, so that the single-fact phase measures the request path, not that aftermath.
            await infra.settle_database()

            # --- single, fixed offered rate ---
            def single(i: int):
                learner, programme = pairs[i % len(pairs)]
                return "POST", "/facts", _fact(learner, programme, "attendance", "2020-09-01T18:00:00Z",
                                               hours=7.0)

            await fixed_rate(client, SINGLE_RATE / 5, 2.0, single)  # warm-up
            with infra.profiling("http-single-500rps"):
                meter = CpuMeter(infra)
                meter.start()
                fixed_started = time.time()
                fixed = await fixed_rate(client, SINGLE_RATE, single_seconds, single)
                fixed_cpu = meter.stop()
                fixed_gc = gc_pauses(infra, svc.pid, fixed_started, time.time())
            p50 = percentile(fixed.latencies, 50) * 1000
            p99 = percentile(fixed.latencies, 99) * 1000
            achieved = fixed.ok / fixed.seconds
            log(f"  single at {SINGLE_RATE:.0f}/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {achieved:.0f} req/s ok")

            # --- single, closed loop ---
            meter = CpuMeter(infra)
            meter.start()
            most = await closed_loop(client, 32, max_seconds, lambda w, i: single(w * 100_000 + i))
            most_cpu = meter.stop()
            most_rate = most.ok / most.seconds
            log(f"  single closed loop: {most_rate:.0f} req/s")
        finally:
            await client.close()
            infra.stop_services()
        await infra.drop_database(dsn)
        fixed_details = {"offered_rps": SINGLE_RATE, "seconds": single_seconds, "sent": fixed.sent, "ok": fixed.ok,
                         "achieved_rps": achieved, "errors": fixed.errors, "p50_ms": p50, "p90_ms":
                         percentile(fixed.latencies, 90) * 1000, "p99_ms": p99,
                         "p999_ms": percentile(fixed.latencies, 99.9) * 1000,
                         "max_ms": max(fixed.latencies, default=0) * 1000, "cpu": fixed_cpu, **fixed_gc}
        ok_all = not fixed.errors and fixed.ok == fixed.sent
        return [
            Result("http.batch", batch_rate, "facts/s", target=BATCH_TARGET,
                   details={"workers": workers, "batch_items": 1000, "requests": batch.ok, "facts": batch.items_ok,
                            "seconds": batch.seconds, "errors": batch.errors,
                            "p50_request_ms": percentile(batch.latencies, 50) * 1000,
                            "p99_request_ms": percentile(batch.latencies, 99) * 1000, "cpu": batch_cpu,
                            "outbox_drain_seconds_after": drain_seconds, "outbox_left": backlog}),
            Result("http.single.p99", p99, "ms", target=P99_TARGET_MS, op="<",
                   met=None if ok_all else False,
                   note="" if ok_all else f"{fixed.sent - fixed.ok} of {fixed.sent} requests failed: {fixed.errors}",
                   details=fixed_details),
            Result("http.single.p50", p50, "ms", details={"offered_rps": SINGLE_RATE}),
            Result("http.single.max_throughput", most_rate, "req/s", target=SINGLE_RATE,
                   details={"clients": 32, "seconds": most.seconds, "ok": most.ok, "errors": most.errors,
                            "p50_ms": percentile(most.latencies, 50) * 1000,
                            "p99_ms": percentile(most.latencies, 99) * 1000, "cpu": most_cpu}),
        ]
    except Exception as exc:  # noqa: BLE001
        log(f"  http failed: {type(exc).__name__}: {exc}")
        infra.stop_services()
        targets = {"http.batch": (BATCH_TARGET, ">="), "http.single.p99": (P99_TARGET_MS, "<"),
                   "http.single.p50": (None, ">="), "http.single.max_throughput": (SINGLE_RATE, ">=")}
        units = {"http.batch": "facts/s", "http.single.p99": "ms", "http.single.p50": "ms",
                 "http.single.max_throughput": "req/s"}
        return [failed(n, units[n], f"{type(exc).__name__}: {exc}", targets[n][0], targets[n][1]) for n in names]
