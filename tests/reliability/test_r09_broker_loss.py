"""R9: the loss of the broker is recoverable.

Inject: mid-run, under load (eight clients posting facts throughout, admissions through intake), the
broker is stopped (killed: Tansu takes 5 s to stop on SIGTERM, and a crash is the harsher loss) and,
after a while, started again on the same port. The embedded broker keeps
nothing: it comes back without topics, messages or committed offsets. The services are not
restarted: they find the topics gone (their relays look before each batch, and every service
checks every few seconds) and create them again, their consumers reconnect and rejoin their groups.
Then `parcours resync --since T` (T: the start of the test) marks every
outbox row since T unpublished in each service's database, and the relays publish them again;
the consumers' inboxes drop what they had already applied.
Pass: the services reconnect by themselves (the same processes become ready again), and the
final counts are exact: every accepted fact, and every event committed in an outbox, is applied
by each of its consumers, once. Not counted as poison: valid events that outcomes refused because
they arrived before their predecessors, lost with the broker (an exit before its start), and that
it applied once the resync delivered them again in order; they are reported (`parcours dlq list`
shows them as "applied since, nothing to replay").
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.reliability.ledger import Ledger, account, dead_letters, inbox, settle, start_audited
from tests.reliability.load import FactPoster, admit_learners, consumed, http_client, timeline
from tests.reliability.records import partitions_of
from tests.reliability.stack import REPO, SERVICES, soak

DOWN = 20.0 if soak() else 5.0
LEARNERS = 300 if soak() else 100


async def resync(stack, since: datetime) -> tuple[int, str]:
    env = dict(os.environ, **{f"PARCOURS_{n.upper()}_DATABASE_URL": dsn for n, dsn in stack.dsns.items()})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "parcours.cli", "resync", "--since", since.isoformat(), "--state-dir", str(stack.root),
        env=env, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(errors="replace")


async def broker_loss(stack, ledger: Ledger, wait: float) -> None:
    rng = random.Random(9)
    since = datetime.now(UTC) - timedelta(seconds=1)
    await start_audited(stack, ledger)
    pids = {name: stack[name].pid for name in SERVICES}
    with ledger.phase("admit"):
        learners = await admit_learners(stack, LEARNERS + 20, rng)
    late_learners, learners = learners[:20], learners[20:]
    timelines = [timeline(lr, rng, attendance=int((DOWN + 4) * 2)) for lr in learners]

    async with http_client(stack) as client:
        poster = FactPoster(stack, client, deadline=DOWN + 150)
        # Paced so that the load goes on through the outage (about 200 facts a second).
        loading = asyncio.create_task(poster.post_timelines(timelines, workers=8, pause=0.03))
        with ledger.phase("broker down"):
            await asyncio.sleep(1.5)
            await asyncio.to_thread(stack.stop_broker, True)
            down_at = len(poster.accepted)
            await asyncio.sleep(DOWN)
            during = len(poster.accepted) - down_at
            await asyncio.to_thread(stack.restart_broker)
        with ledger.phase("reconnect"):
            back = time.monotonic()
            # Admissions while the services find the new broker: more events to intake's outbox.
            more = await admit_learners(stack, 10, rng)
            await asyncio.gather(*(stack[name].ready(wait) for name in SERVICES))
            reconnected = time.monotonic() - back
        with ledger.phase("resync"):
            code, out = await resync(stack, since)
            assert code == 0, out
            await loading
            await poster.post_timelines([timeline(lr, rng, attendance=2) for lr in late_learners + more], workers=8)
    with ledger.phase("settle"):
        await settle(stack, ledger, poster.accepted, wait, sent=set(poster.sent))

    same = all(stack[name].pid == pids[name] and stack[name].alive for name in SERVICES)
    partitions = {t: len(await asyncio.to_thread(partitions_of, stack.bootstrap, t))
                  for t in ("parcours.programmes", "parcours.applications", "parcours.training", "parcours.outcomes")}
    await account(stack, ledger, set(poster.sent), poster.accepted, consumers=("outcomes",))
    # Events whose predecessors were lost with the broker arrive first and are refused (an exit before its
    # start: "who never started"); the resync then delivers them again in order and they are applied. They
    # stay in dead_letters (listed as applied since): counted apart, not as poison.
    applied = await inbox(stack, "outcomes")
    healed = [d for d in await dead_letters(stack, "outcomes") if d["reason"] == "refused" and d["event_id"] in applied]
    ledger.excused = len(healed)
    ledger.note("valid events refused out of order after the loss, applied after the resync (stale dead letters)",
                len(healed))
    ledger.note("facts accepted while the broker was down", during)
    ledger.note("reconnection", f"all ready {reconnected:.1f}s after the broker came back, without a restart: {same}")
    ledger.note("topics in the end (partitions)", partitions)
    ledger.note("parcours resync", " | ".join(line for line in out.strip().splitlines()))
    ledger.note("consumed since start", {name: await consumed(stack[name].url) for name in SERVICES})
    ledger.note("answers", dict(poster.answers.statuses))
    ledger.check()
    assert same
    assert len(poster.accepted) == len(poster.sent), poster.answers.refusals
    assert poster.answers.classes["5xx"] == 0, poster.answers.server_errors


# The bug this test was written to pin (fixed: every service checks its topics every few seconds and
# re-creates those the broker lost).
LOST_TOPICS = (
    "after the embedded broker is lost and restarted empty, nothing re-creates the topics, and the events "
    "relayed afterwards (and those re-published by `parcours resync`) never reach the consumers. The services rely on "
    "a KafkaError from a send to call ensure_topics (OutboxRelay.on_kafka_error), but Tansu acknowledges a produce to "
    "a topic it no longer has (aiokafka's producer still has its partitions in its metadata): the relay marks the "
    "rows published, no error, no topic; the consumers' offset commits then fail forever with "
    "UnknownTopicOrPartitionError (aiokafka retries them inside msg.ack(), so the batch handler never returns and "
    "the consumer stops). Seen: accepted facts never applied by outcomes, or services never ready again."
)


@pytest.mark.timeout(600 if soak() else 180)
async def test_r9_broker_loss_is_recoverable(stack):
    ledger = Ledger("R9", f"broker loss recoverable (broker stopped {DOWN:.0f} s and restarted empty; "
                          "parcours resync)", "facts")
    # R9 asks for reconnection without restart and exact counts, not a time: after the broker comes
    # back empty, a consumer group finds its coordinator again and catches up a backlog (seen: 1,509
    # training events to intake still on their way after 10 s, on a CI machine busy with the suite).
    await broker_loss(stack, ledger, wait=30)
