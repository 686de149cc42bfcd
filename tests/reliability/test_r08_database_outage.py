"""R8: transient faults are retried, not dead-lettered.

Inject: PostgreSQL (the one server of every service's database) stopped for 15 s (30 s with
PARCOURS_SOAK=1) under load: eight clients keep posting facts to progress, another keeps
submitting applications to intake, and outcomes is in the middle of a backlog of facts
committed just before the stop (so its consumer is inside a batch when the database goes).
Clients retry a 503 or a missing answer with the same event_id, after a short pause.
Pass: 0 dead-lettered and 0 lost; while the database is down the APIs answer 503 with a
Retry-After header, never another 5xx, and /health/ready says 503; the services recover by
themselves (same processes, ready again) and every accepted fact is applied.

"While the database is down" is taken as the requests sent after the stop had completed; at the
instant PostgreSQL terminates its connections no request may get a 500 either (R8b below hammers
that instant on its own).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import httpx
import pytest

from tests.reliability.ledger import Ledger, account, dead_letters, install_audit, settled, start_audited
from tests.reliability.load import (
    ACCEPTED,
    UNAVAILABLE,
    Answers,
    FactPoster,
    admit_learners,
    application_body,
    http_client,
    request,
    timeline,
    wait_for,
)
from tests.reliability.stack import SERVICES, soak

OUTAGE = 30.0 if soak() else 15.0
LEARNERS = 300 if soak() else 120


# The race struck a few times per hundred requests before the fix: this many gives it every chance.
MAX_REQUESTS = 2500 if soak() else 800


async def in_a_batch(stack, timeout: float = 5.0) -> bool:
    """Wait (a little) until outcomes' consumer holds a transaction that has written: it is inside a batch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await stack.fetchval("outcomes", "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                            "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"):
            return True
        await asyncio.sleep(0.002)
    return False


@pytest.mark.timeout(600 if soak() else 180)
async def test_r8_database_outage_is_waited_out_not_dead_lettered(stack):
    rng = random.Random(8)
    ledger = Ledger("R8", f"transient faults retried, not dead-lettered (PostgreSQL stopped {OUTAGE:.0f} s under load)",
                    "facts")
    await start_audited(stack, ledger)
    pids = {name: stack[name].pid for name in SERVICES}
    with ledger.phase("admit"):
        learners = await admit_learners(stack, LEARNERS + 40, rng)
    backlog_learners, learners = learners[:40], learners[40:]
    timelines = [timeline(lr, rng, attendance=6) for lr in learners]
    backlog = [f for lr in backlog_learners for f in timeline(lr, rng, attendance=25)]
    down = asyncio.Event()
    up = asyncio.Event()
    window = [float("inf"), float("inf")]  # monotonic times PostgreSQL was fully stopped, and started again

    def during_outage(sent_at: float) -> bool:
        return window[0] <= sent_at < window[1]
    ready: dict[str, Counter] = {name: Counter() for name in SERVICES}
    outage_answers = Answers()
    intake_answers = Answers()

    async def watch_ready(client: httpx.AsyncClient) -> None:
        while not up.is_set():
            for name in SERVICES:
                sent_at = time.monotonic()
                try:
                    status = (await client.get(stack[name].url + "/health/ready", timeout=3)).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                if during_outage(sent_at):
                    ready[name][status] += 1
            await asyncio.sleep(0.5)

    async def submit_applications(client: httpx.AsyncClient) -> None:
        programme = learners[0].programme_id
        while not up.is_set():
            sent_at = time.monotonic()
            kind, response = await request(client, intake_answers, "POST", stack["intake"].url + "/applications",
                                           "/applications", application_body(programme, rng))
            if during_outage(sent_at):
                outage_answers.note("/applications", response)
            await asyncio.sleep(0.2)

    def observe(kind: str, response: httpx.Response | None, sent_at: float) -> None:
        if during_outage(sent_at):
            outage_answers.note("/facts", response, None if response is not None else ConnectionError())

    async with http_client(stack) as client:
        poster = FactPoster(stack, client, deadline=OUTAGE + 120, observer=observe, retry_5xx=True)
        with ledger.phase("load before the outage"):
            # A backlog that outcomes works through while the database goes away.
            size = 25 * len(backlog) // len(backlog_learners)  # 25 learners' facts per batch, each learner's in one
            await asyncio.gather(*(poster.post_batch(backlog[i:i + size]) for i in range(0, len(backlog), size)))
        loading = asyncio.create_task(poster.post_timelines(timelines, workers=8))
        side = [asyncio.create_task(watch_ready(client)), asyncio.create_task(submit_applications(client))]
        with ledger.phase("outage"):
            caught = await in_a_batch(stack)
            in_flight = await stack.fetchval("outcomes", "SELECT count(*) FROM processed_events")
            await asyncio.to_thread(stack.stop_postgres)
            window[0] = time.monotonic()
            down.set()
            await asyncio.sleep(OUTAGE)
            window[1] = time.monotonic()
            await asyncio.to_thread(stack.start_postgres)
            back = time.monotonic()
        with ledger.phase("recovery"):
            recovered = await asyncio.gather(*(stack[name].ready(90) for name in SERVICES))
            up.set()
            recovery = time.monotonic() - back
            await loading
            for task in side:
                await task
    with ledger.phase("settle"):
        await wait_for(lambda: settled(stack, poster.accepted), 120, "every accepted fact applied")

    same_processes = all(stack[name].pid == pids[name] and stack[name].alive for name in SERVICES)
    errors = [e for name in SERVICES for e in stack[name].tracebacks()]
    await account(stack, ledger, set(poster.sent), poster.accepted)
    ledger.note("while PostgreSQL was down", f"{sum(outage_answers.classes.values())} API answers "
                f"{dict(outage_answers.statuses)}; 503 without Retry-After: {outage_answers.no_retry_after}; "
                f"other 5xx: {outage_answers.server_errors or 0}")
    ledger.note("/health/ready meanwhile", {name: dict(c) for name, c in ready.items()})
    ledger.note("outcomes when the database stopped", f"inside a batch: {caught}; {in_flight} events applied, "
                                                        f"{len(backlog)} backlog facts and the admissions before them")
    ledger.note("recovery", f"all ready {recovery:.1f}s after PostgreSQL was back "
                            f"({[round(r, 1) for r in recovered]}), same processes: {same_processes}")
    ledger.note("all answers", f"{dict(poster.answers.statuses)}; intake {dict(intake_answers.statuses)}")
    ledger.note("tracebacks in the services' logs", len(errors))
    ledger.check()
    assert not errors, errors[:3]
    assert poster.answers.classes["5xx"] + intake_answers.classes["5xx"] == 0, poster.answers.server_errors
    assert outage_answers.classes[UNAVAILABLE] > 0, "no request was answered 503 during the outage"
    assert outage_answers.classes["5xx"] == 0, outage_answers.server_errors
    assert outage_answers.no_retry_after == 0
    assert outage_answers.classes[ACCEPTED] == 0
    assert all(ready[name][503] > 0 for name in SERVICES), ready
    assert same_processes
    assert len(poster.accepted) == len(poster.sent), poster.answers.refusals


# The bug this test was written to pin (fixed: InternalClientError is now a transient error).
DROPPED_CONNECTION = (
    "a database connection that PostgreSQL terminates mid-operation (a restart's fast shutdown, a failover, "
    "pg_terminate_backend) is not treated as a transient fault. When the server's FATAL 57P01 arrives right after a "
    "statement completed, asyncpg is left in its ERROR_CONSUME state and the next statement on that connection raises "
    "asyncpg.exceptions._base.InternalClientError ('cannot switch to state 12/15; another operation (2) is in "
    "progress'), which is not in shared/plumbing/db.py TRANSIENT_DB_ERRORS. Over HTTP it becomes a 500 or a dropped "
    "connection instead of 503 (seen at COMMIT in POST /facts and in the API-key lookup "
    "auth.KeyChecker.principal_for_token); in a consumer the batch is isolated item by item and a VALID event is "
    "dead-lettered as unexpected_error (BatchProcessor._single) instead of being retried (seen in R8's PostgreSQL "
    "stop). Here: 2 to 6 HTTP failures per 200 requests."
)


@pytest.mark.timeout(180)
async def test_r8_a_connection_dropped_by_the_database_mid_operation_is_a_transient_fault(stack):
    """Connections terminated by PostgreSQL while they run a statement are a transient fault too.

    Load: six clients posting /facts/batch to progress (42 facts each), which outcomes consumes; meanwhile
    the test terminates, every 10 ms, one backend of progress or outcomes that is running a statement
    (pg_terminate_backend, what a fast shutdown does to active sessions). Pass: every HTTP answer is a 2xx
    or a 503 with Retry-After (no 500, no dropped connection), and nothing is dead-lettered. It stops at the
    first wrong answer, else after MAX_REQUESTS requests (the failure is a race: a few per hundred requests).
    """
    import asyncpg

    rng = random.Random(81)
    ledger = Ledger("R8b", "a connection dropped by PostgreSQL mid-operation is a transient fault", "batches")
    await stack.start_services()
    await install_audit(stack)
    learners = await admit_learners(stack, 300, rng)
    answers = Answers()
    done = asyncio.Event()
    terminated = 0

    async def terminator(service: str) -> None:
        nonlocal terminated
        admin = await asyncpg.connect(stack.dsns[service])
        try:
            while not done.is_set():
                terminated += await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM (SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' "
                    "ORDER BY random() LIMIT 1) a")
                await asyncio.sleep(0.01)
        finally:
            await admin.close()

    async def worker(client) -> None:
        while not done.is_set() and sum(answers.classes.values()) < MAX_REQUESTS:
            body = {"items": [f.body() for f in timeline(rng.choice(learners), rng, attendance=40)]}
            kind, _ = await request(client, answers, "POST", stack["progress"].url + "/facts/batch", "/facts/batch",
                                    body, timeout=60)
            if kind not in (ACCEPTED, UNAVAILABLE):
                done.set()

    tasks = [asyncio.create_task(terminator(name)) for name in ("progress", "outcomes")]
    async with http_client(stack) as client:
        await asyncio.gather(*(worker(client) for _ in range(6)))
    done.set()
    for task in tasks:
        await task
    bad = {k: v for k, v in answers.statuses.items() if k not in ("200", "201", "503")}
    dead = {name: [f"{d['reason']}: {d['error'][:80]}" for d in await dead_letters(stack, name)]
            for name in ("progress", "outcomes")}
    ledger.sent = sum(answers.classes.values())
    ledger.accepted = ledger.applied = answers.classes[ACCEPTED]  # applied not measured: the answers are the point
    ledger.dead_lettered = sum(len(v) for v in dead.values())
    ledger.note("backends terminated while running a statement", terminated)
    ledger.note("answers", dict(answers.statuses))
    ledger.note("wrong answers (neither 2xx nor 503)", bad or "none")
    ledger.note("dead letters", {k: v[:3] for k, v in dead.items() if v} or "none")
    ledger.check()
    assert not bad, answers.server_errors
    assert answers.no_retry_after == 0
