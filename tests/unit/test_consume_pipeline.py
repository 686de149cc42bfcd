"""The consume pipeline's ordering rules, with a stand-in processor and consumer (pure scheduling logic).

What a user relies on: one learner's events applied in partition order, offsets never committed
past a batch that is not applied, and the commits made in the order the batches were fetched.
The real broker and database paths are covered by the integration and reliability suites.
"""

from __future__ import annotations

import asyncio
import logging
from collections import namedtuple

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError
from prometheus_client import CollectorRegistry

from shared.plumbing.metrics import PlumbingMetrics
from shared.plumbing.observe import every
from shared.plumbing.pipeline import ConsumePipeline, batch_keys, conflicts, next_offsets

Record = namedtuple("Record", "topic partition offset key")

METRICS = PlumbingMetrics(CollectorRegistry())


def records(partition: int, first: int, keys: list[bytes | None]) -> list[Record]:
    return [Record("t", partition, first + n, key) for n, key in enumerate(keys)]


class Processor:
    """Applies a batch when the test releases it; records the order of the starts and ends."""

    def __init__(self) -> None:
        self.release: dict[int, asyncio.Event] = {}
        self.log: list[str] = []

    def decode(self, recs):
        return list(recs)

    async def apply_decoded(self, items):
        first = items[0].offset
        self.log.append(f"start {first}")
        await self.release.setdefault(first, asyncio.Event()).wait()
        self.log.append(f"end {first}")
        return []

    def count(self, results) -> None:
        pass

    def let(self, first: int) -> None:
        self.release.setdefault(first, asyncio.Event()).set()


class Consumer:
    def __init__(self, fail_on: set[int] = frozenset()) -> None:
        self.commits: list[dict] = []
        self.fail_on = fail_on

    async def commit(self, offsets) -> None:
        if any(o in self.fail_on for o in offsets.values()):
            raise IllegalStateError("partition not assigned")
        self.commits.append(dict(offsets))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_next_offsets_is_one_past_the_last_record_of_each_partition() -> None:
    batch = records(0, 10, [b"a", b"b"]) + records(3, 7, [b"c"]) + records(0, 12, [b"d"])
    assert next_offsets(batch) == {TopicPartition("t", 0): 13, TopicPartition("t", 3): 8}


def test_batches_conflict_when_they_share_a_key_or_one_has_a_record_without_key() -> None:
    a, b = batch_keys(records(0, 0, [b"l1", b"l2"])), batch_keys(records(0, 2, [b"l3"]))
    assert not conflicts(a, b)
    assert conflicts(a, batch_keys(records(0, 5, [b"l2"])))
    assert conflicts(a, batch_keys(records(0, 5, [None])))
    assert conflicts(batch_keys(records(0, 5, [None])), b)


async def test_disjoint_batches_run_together_and_commit_in_fetch_order() -> None:
    processor, consumer = Processor(), Consumer()
    pipeline = ConsumePipeline(processor, METRICS, concurrency=2)
    assert await pipeline.submit(records(0, 0, [b"l1", b"l2"]), consumer)
    assert await pipeline.submit(records(0, 2, [b"l3"]), consumer)
    await settle()
    assert processor.log == ["start 0", "start 2"]  # both in flight
    processor.let(2)  # the later batch ends first
    await settle()
    assert consumer.commits == []  # its offset would pass the first batch, not yet applied
    processor.let(0)
    await settle()
    assert consumer.commits == [{TopicPartition("t", 0): 2}, {TopicPartition("t", 0): 3}]


async def test_a_batch_sharing_a_learner_waits_for_the_one_in_flight() -> None:
    processor, consumer = Processor(), Consumer()
    pipeline = ConsumePipeline(processor, METRICS, concurrency=2)
    await pipeline.submit(records(0, 0, [b"l1"]), consumer)
    second = asyncio.create_task(pipeline.submit(records(0, 1, [b"l1"]), consumer))
    await settle()
    assert processor.log == ["start 0"] and not second.done()
    processor.let(0)
    processor.let(1)
    assert await second
    await pipeline.close(1)
    assert processor.log == ["start 0", "end 0", "start 1", "end 1"]
    assert consumer.commits[-1] == {TopicPartition("t", 0): 2}


async def test_no_more_batches_in_flight_than_the_concurrency() -> None:
    processor, consumer = Processor(), Consumer()
    pipeline = ConsumePipeline(processor, METRICS, concurrency=2)
    await pipeline.submit(records(0, 0, [b"a"]), consumer)
    await pipeline.submit(records(1, 0, [b"b"]), consumer)
    third = asyncio.create_task(pipeline.submit(records(2, 0, [b"c"]), consumer))
    await settle()
    assert not third.done() and len(processor.log) == 2
    processor.let(0)
    assert await third


async def test_closing_lets_batches_in_flight_finish_and_refuses_new_ones() -> None:
    processor, consumer = Processor(), Consumer()
    pipeline = ConsumePipeline(processor, METRICS, concurrency=2)
    await pipeline.submit(records(0, 0, [b"a"]), consumer)
    processor.let(0)
    await pipeline.close(1)
    assert consumer.commits == [{TopicPartition("t", 0): 1}]
    assert not await pipeline.submit(records(0, 1, [b"b"]), consumer)
    assert processor.log == ["start 0", "end 0"]


async def test_a_batch_cancelled_unapplied_stops_every_later_commit() -> None:
    processor, consumer = Processor(), Consumer()
    pipeline = ConsumePipeline(processor, METRICS, concurrency=2)
    await pipeline.submit(records(0, 0, [b"a"]), consumer)
    await pipeline.submit(records(0, 1, [b"b"]), consumer)
    processor.let(1)  # the second is applied, the first never is
    await settle()
    await pipeline.close(0.05)  # the first is cancelled when the time is up
    await settle()
    assert consumer.commits == []  # offset 2 would have skipped the unapplied record at offset 0


async def test_a_failed_commit_does_not_hold_back_the_next_one() -> None:
    # After a rebalance the commit of a partition no longer ours fails: the records go to the
    # new owner (whose inbox drops what was applied here), and this consumer goes on.
    processor, consumer = Processor(), Consumer(fail_on={1})
    pipeline = ConsumePipeline(processor, METRICS, concurrency=2)
    await pipeline.submit(records(0, 0, [b"a"]), consumer)
    await pipeline.submit(records(1, 0, [b"b", b"c"]), consumer)
    processor.let(0)  # both batches begin at offset 0, of partitions 0 and 1
    await pipeline.close(1)
    assert consumer.commits == [{TopicPartition("t", 1): 2}]


async def test_a_failing_periodic_task_is_counted_and_said_at_warning_then_its_recovery(caplog):
    metrics = PlumbingMetrics(CollectorRegistry())
    runs = 0

    async def purge() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise ConnectionRefusedError("database unreachable")
        if runs == 5:
            raise asyncio.CancelledError

    caplog.set_level(logging.INFO, logger="shared.plumbing.observe")
    try:
        await every(0, "contact retention", purge, metrics)
    except asyncio.CancelledError:
        pass
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'contact retention'" in warnings[0].getMessage()
    assert "database unreachable" in warnings[0].getMessage()
    assert any("contact retention works again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert metrics.periodic_failures.labels("contact retention")._value.get() == 3
