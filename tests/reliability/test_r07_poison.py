"""R7: poison is isolated.

Inject, with confluent-kafka (librdkafka: a client no one here wrote), straight onto the topics,
each on a partition that carries valid learners' events (the partition is chosen explicitly:
librdkafka's default partitioner is not the services' murmur2):
- on parcours.training (consumed by outcomes AND intake): undecodable bytes (bad JSON), a wrong
  schema (valid JSON, fields missing), an unknown schema version (99), an oversized message
  (1,000,100 bytes > PARCOURS_MAX_MESSAGE_BYTES' default 1,000,000; the embedded broker accepts
  it), each dead-lettered by both consumers, and an impossible transition (a valid
  training.exited of a learner who never started, which outcomes refuses and intake ignores);
- on parcours.applications (consumed by progress AND outcomes): bad JSON and an unknown event
  type, each dead-lettered by both consumers.
Then valid events follow on every partition: the rest of every learner's facts, and new
admissions through intake.
Pass: every valid event is applied; the dead letters equal what was injected (rows in
`dead_letters` per service with the expected reasons, and records on the `.dlq` topics); no
partition is stuck (behind every dead letter a later valid record of the same partition is
applied); `parcours dlq list` shows each with its reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from shared.contracts import TrainingExited
from shared.contracts.codec import encode_event
from tests.reliability.ledger import Ledger, account, dead_letters, inbox, install_audit, settled, start_audited
from tests.reliability.load import START, FactPoster, admit_learners, http_client, timeline, wait_for
from tests.reliability.records import produce, read_topic
from tests.reliability.stack import REPO, soak

TRAINING, APPLICATIONS = "parcours.training", "parcours.applications"
LEARNERS = 200 if soak() else 40
OVERSIZED = 1_000_100


def headers(event_type: str, version: str = "1") -> list[tuple[str, bytes]]:
    return [("event_type", event_type.encode()), ("schema_version", version.encode())]


def poison_for_training(victims: dict[int, str]) -> list[tuple]:
    """(topic, partition, key, value, headers, expected reason) of each poison record on parcours.training."""
    p = sorted(victims)
    never_started = uuid.uuid4()
    exit_event = TrainingExited.build(event_id=uuid.uuid4(), occurred_at=START, recorded_at=datetime.now(UTC),
                                      producer="progress", learner_id=never_started, programme_id=uuid.uuid4(),
                                      data={"reason": "certified"})
    key, value, exit_headers = encode_event(exit_event)
    valid = json.loads(value)
    unknown_version = dict(valid, event_id=str(uuid.uuid4()), event_type="training.attendance", schema_version=99,
                           data={"hours": 3.0})
    return [
        (TRAINING, p[0], victims[p[0]].encode(), b'{"event_id": "' + os.urandom(12).hex().encode(),
         headers("training.attendance"), "undecodable"),
        (TRAINING, p[1 % len(p)], victims[p[1 % len(p)]].encode(),
         json.dumps({"event_id": str(uuid.uuid4()), "event_type": "training.attendance", "schema_version": 1}).encode(),
         headers("training.attendance"), "invalid_schema"),
        (TRAINING, p[2 % len(p)], victims[p[2 % len(p)]].encode(), json.dumps(unknown_version).encode(),
         headers("training.attendance", "99"), "unknown_type"),
        (TRAINING, p[3 % len(p)], victims[p[3 % len(p)]].encode(),
         b'{"padding": "' + b"x" * (OVERSIZED - 15) + b'"}', headers("training.attendance"), "oversized"),
        (TRAINING, p[0], key, value, exit_headers, "refused"),
    ]


def poison_for_applications(partitions: list[int], learner: str) -> list[tuple]:
    return [
        (APPLICATIONS, partitions[0], learner.encode(), b"\xff\xfe not json at all",
         headers("application.submitted"), "undecodable"),
        (APPLICATIONS, partitions[-1], learner.encode(),
         json.dumps({"event_id": str(uuid.uuid4()), "event_type": "application.teleported", "schema_version": 1,
                     "occurred_at": START.isoformat(), "recorded_at": START.isoformat(),
                     "producer": "intake"}).encode(),
         headers("application.teleported"), "unknown_type"),
    ]


def dlq_list(stack) -> subprocess.CompletedProcess:
    env = dict(os.environ, **{f"PARCOURS_{n.upper()}_DATABASE_URL": dsn for n, dsn in stack.dsns.items()})
    return subprocess.run([sys.executable, "-m", "parcours.cli", "dlq", "list", "--state-dir", str(stack.root),
                           "--service", "intake", "--service", "progress", "--service", "outcomes"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=60)


async def not_stuck(stack, dead: list[dict], consumer: str) -> list[str]:
    """Dead letters behind which no later record of the same partition was applied."""
    applied = await inbox(stack, consumer)
    stuck = []
    for d in dead:
        records = await asyncio.to_thread(read_topic, stack.bootstrap, d["topic"])
        later = [r for r in records if r.partition == d["partition"] and r.offset > d["offset"]
                 and r.event_id in applied]
        if not later:
            stuck.append(f"{consumer}: {d['topic']}[{d['partition']}]@{d['offset']} {d['reason']}")
    return stuck


@pytest.mark.timeout(600 if soak() else 180)
async def test_r7_poison_is_isolated(stack):
    rng = random.Random(7)
    ledger = Ledger("R7", "poison isolated (bad JSON, wrong schema, unknown version, oversized, impossible "
                          "transition; confluent-kafka)", "events")
    await start_audited(stack, ledger)
    with ledger.phase("before the poison"):
        learners = await admit_learners(stack, LEARNERS, rng)
        timelines = [timeline(lr, rng, attendance=2) for lr in learners]
        async with http_client(stack) as client:
            poster = FactPoster(stack, client, deadline=120)
            await poster.post_batch([t[0] for t in timelines])
        await wait_for(lambda: settled(stack, poster.accepted), 60, "the starts applied by outcomes")
        where = {r.key.decode(): r.partition for r in await asyncio.to_thread(read_topic, stack.bootstrap, TRAINING)}
        victims = {}
        for learner, partition in where.items():
            victims.setdefault(partition, learner)
        app_records = await asyncio.to_thread(read_topic, stack.bootstrap, APPLICATIONS)
        app_partitions = sorted({r.partition for r in app_records})

    with ledger.phase("poison, then valid events"):
        poison = poison_for_training(victims) + poison_for_applications(app_partitions, learners[0].learner_id)
        await asyncio.to_thread(produce, stack.bootstrap, [(t, k, v, h) for t, _p, k, v, h, _r in poison],
                                partitions=[p for _t, p, *_ in poison])
        async with http_client(stack) as client:
            poster.client = client
            await poster.post_timelines([t[1:] for t in timelines], workers=8)
        more = await admit_learners(stack, 20, rng)  # admissions behind the poison on parcours.applications
        await wait_for(lambda: settled(stack, poster.accepted), 90, "every valid event applied")

    expected = {"outcomes": Counter(r for *_, r in poison),
                "progress": Counter(r for t, *_, r in poison if t == APPLICATIONS),
                "intake": Counter(r for t, *_, r in poison if t == TRAINING and r != "refused")}
    found = {name: await dead_letters(stack, name) for name in ("intake", "progress", "outcomes")}
    reasons = {name: Counter(d["reason"] for d in rows) for name, rows in found.items()}
    dlq = {t: await asyncio.to_thread(read_topic, stack.bootstrap, f"{t}.dlq", 30.0) for t in (TRAINING, APPLICATIONS)}
    stuck = [*await not_stuck(stack, found["outcomes"], "outcomes"),
             *await not_stuck(stack, found["progress"], "progress"),
             *await not_stuck(stack, found["intake"], "intake")]
    listed = dlq_list(stack)

    await account(stack, ledger, set(poster.sent), poster.accepted)
    ledger.sent += len(poison)
    ledger.accepted += len(poison)
    ledger.injected = sum(sum(c.values()) for c in expected.values())
    ledger.note("poison records", f"{len(poison)} ({len(poison) - 2} on {TRAINING}, 2 on {APPLICATIONS}, each "
                                  f"topic consumed by two services): expected dead letters {ledger.injected}")
    ledger.note("dead letters by reason", {n: dict(c) for n, c in reasons.items() if c})
    ledger.note(".dlq topics", {t: f"{len(r)} records, reasons {dict(Counter(x.header('dlq_reason') for x in r))}"
                                for t, r in dlq.items()})
    ledger.note("partitions stuck behind poison", stuck or "none")
    ledger.note("valid events after the poison", f"{len(poster.accepted) - LEARNERS} facts, {len(more)} admissions")
    ledger.note("parcours dlq list", listed.stdout.strip().splitlines()[-1] if listed.stdout else listed.stderr[-300:])
    ledger.check()
    assert reasons == expected
    assert len(dlq[TRAINING]) == sum(expected["outcomes"].values()) - 2 + sum(expected["intake"].values())
    assert len(dlq[APPLICATIONS]) == 4
    assert not stuck
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip().endswith(f"{ledger.injected} dead letter(s)"), listed.stdout
    for reason in set(expected["outcomes"]):
        assert f" {reason} (waiting)" in listed.stdout, (reason, listed.stdout)
    assert "never started" in listed.stdout


def largest_value(key: bytes, hdrs: list[tuple[str, bytes]], limit: int = 1_048_576) -> int:
    """The largest value the services' own producer (aiokafka, max_request_size 1,048,576, the same as
    Kafka's default message.max.bytes of 1,048,588 less the batch overhead) sends with this key and headers."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    size = limit
    while DefaultRecordBatchBuilder.estimate_size_in_bytes(key, b"x" * size, hdrs) > limit:
        size -= 1
    return size


# The bug this test was written to pin (fixed: the copy goes without its payload, which the dead letter
# keeps, and the relay sets aside any row the broker can never take instead of retrying it forever).
WEDGE = (
    "an oversized poison message at Kafka's default size limit wedges the consumer's outbox relay. "
    "The consumer dead-letters it (> max_message_bytes) and queues its copy for <topic>.dlq with three more "
    "headers (dlq_reason, dlq_error, dlq_source): 1,048,664 bytes serialized, over the relay producer's "
    "max_request_size (aiokafka default 1,048,576; shared/plumbing/kafka.py make_producer). send() raises "
    "MessageSizeTooLargeError, a KafkaError, which OutboxRelay.run retries forever; rows are taken in id order, "
    "so every later outbox row of that service (here outcomes' outcome.recorded/followup events for intake; for "
    "progress, every training event) is never published. Poison is not isolated."
)


@pytest.mark.timeout(180)
async def test_r7_oversized_poison_near_the_kafka_limit_is_set_aside_without_wedging_the_relay(stack):
    """An oversized message that Kafka with its defaults accepts (and that the services' own producer
    could have sent) must be dead-lettered like any other, without stopping the service's relay.

    The message is as large as aiokafka's default max_request_size lets a producer send (1,048,576
    bytes with its record overhead, within Kafka's default message.max.bytes). Outcomes sets it aside
    (> 1,000,000 bytes) and queues its copy for parcours.training.dlq with three more headers
    (dlq_reason, dlq_error, dlq_source). Pass: the copy is published and the outbox drains; an outcome
    recorded afterwards still reaches its consumer (intake).
    """
    rng = random.Random(71)
    ledger = Ledger("R7b", "oversized poison at the Kafka size limit does not wedge the dead-letter relay", "events")
    await stack.start_services()
    await install_audit(stack)
    learners = await admit_learners(stack, 8, rng)
    async with http_client(stack) as client:
        poster = FactPoster(stack, client, deadline=120)
        await poster.post_timelines([timeline(lr, rng, attendance=1, exit_reason="certified") for lr in learners])
    await wait_for(lambda: settled(stack, poster.accepted), 60, "the facts applied by outcomes")

    key, hdrs = learners[0].learner_id.encode(), headers("training.attendance")
    size = largest_value(key, hdrs)
    await asyncio.to_thread(produce, stack.bootstrap, [(TRAINING, key, b"x" * size, hdrs)])
    await wait_for(lambda: stack.fetchval("outcomes", "SELECT count(*) FROM dead_letters"), 30, "the poison set aside")

    # An outcome recorded after the poison: its event must still leave outcomes' outbox.
    lr = learners[1]
    async with http_client(stack) as client:
        response = await client.post(f"{stack['outcomes'].url}/followups/{lr.learner_id}/{lr.programme_id}/outcome",
                                     json={"situation": "permanent_contract", "observed_on": "2021-04-02"})
        assert response.status_code == 201, response.text

    async def drained() -> bool:
        return await stack.fetchval("outcomes", "SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL")

    try:
        await wait_for(drained, 8, "outcomes' outbox drained")
        wedged = False
    except TimeoutError:
        wedged = True
    backlog = await stack.fetch("outcomes", "SELECT topic, octet_length(payload) AS bytes FROM outbox "
                                            "WHERE published_at IS NULL ORDER BY id")
    dlq = await asyncio.to_thread(read_topic, stack.bootstrap, f"{TRAINING}.dlq", 30.0)
    await account(stack, ledger, set(poster.sent), poster.accepted)
    ledger.sent += 1
    ledger.accepted += 1
    ledger.injected = 2  # one record, set aside by each consumer of the topic (outcomes, intake)
    ledger.note("poison", f"{size} bytes on {TRAINING} (the largest aiokafka's default max_request_size sends)")
    ledger.note("outcomes' unpublished outbox rows 8 s later", [(r["topic"], r["bytes"]) for r in backlog] or "none")
    ledger.note(f"{TRAINING}.dlq records", [(len(r.value), r.header("dlq_payload_omitted")) for r in dlq])
    kept = await stack.fetchval("outcomes", "SELECT octet_length(payload) FROM dead_letters WHERE reason = 'oversized'")
    ledger.note("payload kept in outcomes' dead letters", f"{kept} bytes")
    ledger.check()
    # Both consumers of the training topic (outcomes and intake) set it aside, each its own copy.
    assert not wedged and len(dlq) == 2
    for record in dlq:
        assert record.value == b"" and record.header("dlq_reason") == "oversized"
        assert record.header("dlq_payload_omitted").startswith(f"{size} bytes")
    assert kept == size
