"""R2: a state change and its events are atomic.

Inject: progress's relay crashed between publishing a batch and marking it published. The code
is not patched: every Kafka connection goes through a proxy (tests/reliability/proxy.py); a
backlog of facts is committed through POST /facts/batch (progress runs with relay batches of 20
rows); once the relay is working through it, the proxy holds the broker's answers for a moment,
so the relay's next batch is on the topic while the relay still waits for its acknowledgement,
and progress is killed -9 right then. Right after each kill (before the restart) the test counts
the outbox rows still unpublished whose event is already on the topic: exactly the rows published
and not marked (so each kill is proven to have landed in that window). PostgreSQL is also stopped
and started again while the relay has a backlog (its mark then fails with the connection), and
facts posted while it is down must be answered 503 and leave no trace.
Pass: delivered events = committed changes, one to one: the distinct event_ids on
parcours.training equal the event_ids of progress's `facts` and of its outbox (and intake's
topics equal intake's outbox); the re-sent copies are only duplicates that outcomes' inbox drops.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.reliability.ledger import Ledger, account, settled, start_audited
from tests.reliability.load import ACCEPTED, FactPoster, admit_learners, http_client, timeline, wait_for
from tests.reliability.records import read_topic
from tests.reliability.stack import soak

LEARNERS = 300 if soak() else 100
ATTENDANCE = 40 if soak() else 15
PER_ROUND = 5  # facts of each learner per round: a backlog of LEARNERS * PER_ROUND rows
ROUNDS = 6 if soak() else 2
TRAINING = "parcours.training"


async def published_not_marked(stack) -> tuple[int, int]:
    """(unpublished outbox rows of progress, how many of them are already on the topic)."""
    rows = await stack.fetch("progress", "SELECT event_id FROM outbox WHERE topic = $1 AND published_at IS NULL "
                                         "AND event_id IS NOT NULL", TRAINING)
    if not rows:
        return 0, 0
    on_topic = {r.event_id for r in await asyncio.to_thread(read_topic, stack.bootstrap, TRAINING)}
    return len(rows), len({str(r["event_id"]) for r in rows} & on_topic)


async def relay_busy(stack, timeout: float = 3.0) -> None:
    """Return once the relay has published part of the backlog (so it is working through the rest)."""
    sql = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
    first = await stack.fetchval("progress", sql)
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await stack.fetchval("progress", sql) < first:
            return
        await asyncio.sleep(0.005)


@pytest.mark.kafka_proxy
@pytest.mark.timeout(600 if soak() else 180)
async def test_r2_state_change_and_events_are_atomic(stack):
    rng = random.Random(2)
    ledger = Ledger("R2", "state change and its events atomic (relay killed mid-backlog, PostgreSQL restarted)",
                    "facts")
    await start_audited(stack, ledger, env={"progress": {"PARCOURS_RELAY_BATCH_SIZE": "20"}})
    with ledger.phase("admit"):
        learners = await admit_learners(stack, LEARNERS + 10, rng)
    learners, probes = learners[:LEARNERS], learners[LEARNERS:]
    timelines = [timeline(lr, rng, attendance=ATTENDANCE) for lr in learners]
    length = len(timelines[0])
    kills: list[tuple[int, int]] = []

    async with http_client(stack) as client:
        poster = FactPoster(stack, client, deadline=150)
        probe_poster = FactPoster(stack, client, retry=False)

        async def post_slice(start: int, stop: int) -> None:
            # Batches of whole learners (each learner's facts in one), within the API's 1,000 items.
            per_batch = max(1, min(len(timelines) // 2, 1000 // (stop - start)))
            batches = [[f for t in timelines[i:i + per_batch] for f in t[start:stop]]
                       for i in range(0, len(timelines), per_batch)]
            await asyncio.gather(*(poster.post_batch(b) for b in batches))

        # Rounds: a slice of every learner's timeline as a backlog, then kill -9 while the relay works.
        with ledger.phase("kill rounds"):
            position = 0
            while len(kills) < ROUNDS and position + PER_ROUND < length - 1:
                await post_slice(position, position + PER_ROUND)
                position += PER_ROUND
                await relay_busy(stack)
                stack.proxy.hold(responses=True)  # the next batch reaches the topic, its ack waits here
                await asyncio.sleep(0.2)
                stack["progress"].kill()
                stack.proxy.release()
                kills.append(await published_not_marked(stack))
                stack["progress"].start()

        # PostgreSQL restarted while the relay has a backlog; facts posted meanwhile get 503.
        with ledger.phase("postgres restart"):
            await stack["progress"].ready(60)
            await post_slice(position, length - 1)
            await asyncio.to_thread(stack.stop_postgres)
            probe_answers = [await probe_poster.post(timeline(p, rng, attendance=0, exit=False)[0]) for p in probes]
            await asyncio.sleep(2)
            dsn = stack.server_dsn
            await asyncio.to_thread(stack.start_postgres)
            assert stack.server_dsn == dsn
            await post_slice(length - 1, length)

    with ledger.phase("settle"):
        await wait_for(lambda: settled(stack, poster.accepted), 120, "every accepted fact applied by outcomes")

    records = await asyncio.to_thread(read_topic, stack.bootstrap, TRAINING)
    delivered = {r.event_id for r in records}
    facts = {str(r["event_id"]) for r in await stack.fetch("progress", "SELECT event_id FROM facts")}
    queued = {str(r["event_id"]) for r in await stack.fetch(
        "progress", "SELECT event_id FROM outbox WHERE topic = $1 AND event_id IS NOT NULL", TRAINING)}
    intake_rows = {str(r["event_id"]): r["topic"] for r in await stack.fetch(
        "intake", "SELECT event_id, topic FROM outbox WHERE event_id IS NOT NULL")}
    intake_delivered = set()
    for topic in set(intake_rows.values()):
        intake_delivered |= {r.event_id for r in await asyncio.to_thread(read_topic, stack.bootstrap, topic)}
    probes_stored = {f for f in probe_poster.sent} & (facts | delivered)

    await account(stack, ledger, set(poster.sent) | set(probe_poster.sent), poster.accepted)
    in_window = sum(1 for _, n in kills if n)
    ledger.note("kills of progress -9 with a backlog", f"{len(kills)}; (unpublished rows, of which already "
                f"on the topic) at each kill: {kills}; kills between publish and mark: {in_window}")
    ledger.note("parcours.training", f"{len(records)} records, {len(delivered)} distinct event_ids "
                f"({len(records) - len(delivered)} re-sent copies); facts committed {len(facts)}, "
                f"outbox rows {len(queued)}; on topic without commit {len(delivered - facts)}, "
                f"committed not on topic {len(facts - delivered)}")
    ledger.note("intake topics", f"{len(intake_delivered)} distinct event_ids delivered, {len(intake_rows)} committed")
    ledger.note("facts posted while PostgreSQL was down", f"{len(probe_answers)} answered "
                f"{dict(probe_poster.answers.statuses)}; stored or delivered anyway: {len(probes_stored)}")
    ledger.check()
    assert in_window == len(kills), "a kill did not land between publish and mark"
    assert delivered == facts == queued
    assert intake_delivered == set(intake_rows)
    assert not probes_stored
    assert all(a != ACCEPTED for a in probe_answers)
    assert probe_poster.answers.classes["5xx"] == 0, probe_poster.answers.server_errors
    assert poster.answers.classes["5xx"] == 0, poster.answers.server_errors
