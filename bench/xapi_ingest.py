"""Measure: xAPI statements at progress (`POST /xapi/statements`), in order and late.

Progress runs as a process on a fresh database and broker. L learners are admitted through Kafka
and started; each enrolment then gets H attendance facts of history (posted in batches, one a
day). Then, back to back from one client, as an LMS sends them:

- xapi.batch: batches of 1,000 `attended` statements dated after every learner's history;
- xapi.batch_late: the same, dated in the middle of the history (an LMS sending a backlog, a
  centre re-sending last month): placed at their date, which used to replay the enrolment's whole
  history for each statement, so that the rate fell as the history grew.

Statements/s accepted; the late one is also compared with the in-order one of the same run.
Before them, the same client sends as many batches to the raw ceiling (bench.xapi_ceiling: the
statements, their facts and their events written with COPY, nothing else), on a fresh database of
the same PostgreSQL: xapi.ceiling, what this machine can do for these writes at all.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.http_ingest import admit
from bench.httpload import Client
from bench.infra import CpuMeter, Infra, api_key_headers, log
from bench.results import Result, failed

TARGET = 10_000.0  # statements/s
LATE_COST = 1.5  # the late batches may cost at most this much more per statement than the in-order ones
ADL = "http://adlnet.gov/expapi/verbs/"
PROGRAMME_ID = "https://parcours.example/xapi/programme_id"
START = datetime(2020, 3, 2, 9, tzinfo=UTC)


def _statement(application_id, programme_id, at: datetime) -> dict:
    return {"id": str(uuid.uuid4()),
            "actor": {"objectType": "Agent",
                      "account": {"homePage": "https://lms.example", "name": str(application_id)}},
            "verb": {"id": ADL + "attended"},
            "object": {"objectType": "Activity", "id": "https://lms.example/module/sql"},
            "context": {"extensions": {PROGRAMME_ID: str(programme_id)}},
            "result": {"duration": "PT3H"},
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%SZ")}


async def _post(client: Client, path: str, body):
    status, data = await client.request("POST", path, body)
    if status != 200:
        raise RuntimeError(f"POST {path} answered {status}: {data[:300]!r}")
    return json.loads(data)


async def _rate(infra: Infra, client: Client, batches: list[list[dict]]) -> tuple[float, int, dict]:
    """Statements/s stored (the LRS answers their ids), each of them applied as a fact (checked after),
    and the CPU milliseconds each part of the stack spent per 1,000 (steadier than the rate between
    days on a shared machine)."""
    meter = CpuMeter(infra)
    meter.start()
    stored, started = 0, time.monotonic()
    for batch in batches:
        stored += len(await _post(client, "/xapi/statements", batch))
    seconds = time.monotonic() - started
    cores = meter.stop()
    cpu = {f"{part}_cpu_ms_per_1000": round(cores[f"{part}_cores"] * cores["interval_seconds"] * 1e6 / stored, 1)
           for part in ("services", "postgres", "harness")}
    return stored / seconds, stored, cpu


async def _ceiling(infra: Infra, batches: int) -> float:
    """Statements/s of the raw ceiling, over twice `batches` batches of 1,000 (the LRS's two phases)."""
    dsn = await infra.new_database("bench_xapi_ceiling", "services.progress")
    ceiling = infra.start_service("progress", dsn, infra.bootstrap, tag="-ceiling", module="bench.xapi_ceiling")
    await ceiling.wait_ready()
    client = Client(ceiling.url, 4)
    try:
        at = START + timedelta(days=1)
        rate, _, cpu = await _rate(infra, client, [[_statement(uuid.uuid4(), uuid.uuid4(), at + timedelta(seconds=i))
                                                    for i in range(1000)] for _ in range(2 * batches)])
    finally:
        await client.close()
        infra.stop_services()
    await infra.drop_database(dsn)
    return rate, cpu


async def measure(infra: Infra, learners: int, history: int, batches: int, timeout: float) -> list[Result]:
    try:
        rng = random.Random("xapi")
        infra.bootstrap = await infra.new_broker()
        ceiling, ceiling_cpu = await _ceiling(infra, batches)
        log(f"  raw ceiling (the same writes with COPY, nothing else): {ceiling:.0f} statements/s")
        dsn = await infra.new_database("bench_progress_xapi", "services.progress")
        headers = await api_key_headers([dsn])
        svc = infra.start_service("progress", dsn, infra.bootstrap)
        await svc.wait_ready()
        pairs = await admit(infra, svc.url, learners, rng, timeout, headers)
        apps = [(uuid.uuid5(learner, str(programme)), programme) for learner, programme in pairs]
        client = Client(svc.url, 4, {**headers, "X-Experience-API-Version": "1.0.3"})
        try:
            facts = [{"application_id": str(a), "programme_id": str(p), "type": "started",
                      "occurred_at": START.isoformat()} for a, p in apps]
            facts += [{"application_id": str(a), "programme_id": str(p), "type": "attendance", "hours": 3.0,
                       "occurred_at": (START + timedelta(days=day, hours=8)).isoformat()}
                      for day in range(history) for a, p in apps]
            for k in range(0, len(facts), 1000):
                await _post(client, "/facts/batch", {"items": facts[k:k + 1000]})
            log(f"  {learners} enrolments with {history} facts of history each; xAPI batches")
            after = START + timedelta(days=history + 1)
            middle = START + timedelta(days=history // 2, hours=15)

            def batches_at(moment: datetime) -> list[list[dict]]:
                return [[_statement(*apps[(b * 1000 + i) % len(apps)], moment + timedelta(minutes=b))
                         for i in range(1000)] for b in range(batches)]

            with infra.profiling("xapi"):
                in_order, n_order, order_cpu = await _rate(infra, client, batches_at(after))
                late, n_late, late_cpu = await _rate(infra, client, batches_at(middle))
            status, body = await client.request("GET", "/xapi/attention?limit=1")
            if status != 200 or json.loads(body)["items"]:
                raise RuntimeError(f"statements wait for attention instead of becoming facts: {body[:300]!r}")
        finally:
            await client.close()
            infra.stop_services()
        await infra.drop_database(dsn)
        log(f"  xapi: in order {in_order:.0f}/s, late {late:.0f}/s; CPU ms per 1,000: ceiling {ceiling_cpu}, "
            f"in order {order_cpu}, late {late_cpu}")
        details = {"learners": learners, "history_per_enrolment": history, "batches": batches, "batch_items": 1000}
        return [
            Result("xapi.ceiling", ceiling, "statements/s",
                   details={**details, **ceiling_cpu, "lrs_over_ceiling": in_order / ceiling},
                   note="raw: the same client, statements, facts and events written with COPY, nothing else"),
            Result("xapi.batch", in_order, "statements/s", target=TARGET, baseline=ceiling,
                   baseline_name="xapi.ceiling", details={**details, **order_cpu, "accepted": n_order}),
            Result("xapi.batch_late", late, "statements/s", target=1 / LATE_COST, compare="ratio",
                   baseline=in_order, baseline_name="xapi.batch",
                   details={**details, **late_cpu, "accepted": n_late, "statements_per_second": late,
                            "absolute_target": TARGET}),
        ]
    except Exception as exc:  # noqa: BLE001
        log(f"  xapi failed: {type(exc).__name__}: {exc}")
        infra.stop_services()
        return [failed("xapi.ceiling", "statements/s", f"{type(exc).__name__}: {exc}"),
                failed("xapi.batch", "statements/s", f"{type(exc).__name__}: {exc}", TARGET, ">="),
                failed("xapi.batch_late", "statements/s", f"{type(exc).__name__}: {exc}", 1 / LATE_COST, ">=",
                       compare="ratio", baseline_name="xapi.batch")]
