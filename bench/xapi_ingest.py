"""Measure: xAPI statements at progress (`POST /xapi/statements`), in order and late.

Progress runs as a process on a fresh database and broker. L learners are admitted through Kafka
and started; each enrolment then gets H attendance facts of history (posted in batches, one a
day). Then, back to back from one client, as an LMS sends them:

- xapi.batch: batches of 1,000 `attended` statements dated after every learner's history;
- xapi.batch_late: the same, dated in the middle of the history (an LMS sending a backlog, a
  centre re-sending last month): placed at their date, which used to replay the enrolment's whole
  history for each statement, so that the rate fell as the history grew.

Statements/s accepted; the late one is also compared with the in-order one of the same run.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.http_ingest import admit
from bench.httpload import Client
from bench.infra import Infra, api_key_headers, log
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


async def _rate(client: Client, batches: list[list[dict]]) -> tuple[float, int]:
    """Statements/s stored (the LRS answers their ids), each of them applied as a fact (checked after)."""
    stored, started = 0, time.monotonic()
    for batch in batches:
        stored += len(await _post(client, "/xapi/statements", batch))
    return stored / (time.monotonic() - started), stored


async def measure(infra: Infra, learners: int, history: int, batches: int, timeout: float) -> list[Result]:
    try:
        rng = random.Random("xapi")
        infra.bootstrap = await infra.new_broker()
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

            in_order, n_order = await _rate(client, batches_at(after))
            late, n_late = await _rate(client, batches_at(middle))
            status, body = await client.request("GET", "/xapi/attention?limit=1")
            if status != 200 or json.loads(body)["items"]:
                raise RuntimeError(f"statements wait for attention instead of becoming facts: {body[:300]!r}")
        finally:
            await client.close()
            infra.stop_services()
        await infra.drop_database(dsn)
        log(f"  xapi: in order {in_order:.0f}/s, late {late:.0f}/s")
        details = {"learners": learners, "history_per_enrolment": history, "batches": batches, "batch_items": 1000}
        return [
            Result("xapi.batch", in_order, "statements/s", target=TARGET, details={**details, "accepted": n_order}),
            Result("xapi.batch_late", late, "statements/s", target=1 / LATE_COST, compare="ratio",
                   baseline=in_order, baseline_name="xapi.batch",
                   details={**details, "accepted": n_late, "statements_per_second": late,
                            "absolute_target": TARGET}),
        ]
    except Exception as exc:  # noqa: BLE001
        log(f"  xapi failed: {type(exc).__name__}: {exc}")
        infra.stop_services()
        return [failed("xapi.batch", "statements/s", f"{type(exc).__name__}: {exc}", TARGET, ">="),
                failed("xapi.batch_late", "statements/s", f"{type(exc).__name__}: {exc}", 1 / LATE_COST, ">=",
                       compare="ratio", baseline_name="xapi.batch")]
