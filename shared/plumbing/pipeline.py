"""Batches of different learners applied side by side, their offsets committed in order.

A consumer left to itself works in turns: decode a batch, apply it in one transaction, commit
its offsets, fetch the next. While PostgreSQL works the Python process waits, and while Python
works PostgreSQL waits; together they keep about one core busy on a machine that has two.

Here a fetched batch starts at once in its own transaction when no batch still in flight holds
a record with the same Kafka key (the learner, or the programme for programme events), up to
`concurrency` batches at a time; otherwise it waits for those batches. One key's events are
therefore still applied one after the other in the order of the partition, which is the only
order Kafka gives and the only one the services rely on: events of different keys already go
to different partitions, consumed by different instances in any order. A record without a key
waits for everything before it, and everything after it waits for it.

Offsets are committed explicitly, one past the last record of each batch, and in the order
the batches were fetched (each batch's commit waits for the previous one's): an offset never
passes a record that is not yet applied, even when a later batch's transaction ends first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiokafka import TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError

from shared.plumbing.consumer import BatchProcessor, commit_quietly
from shared.plumbing.metrics import PlumbingMetrics
from shared.plumbing.observe import mark_processed

log = logging.getLogger(__name__)

ANY_KEY = object()  # stands for a record without a key: it conflicts with every batch


def next_offsets(records: Sequence) -> dict[TopicPartition, int]:
    """The offsets to commit once these records are applied: one past the last, per partition."""
    offsets: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        if r.offset + 1 > offsets.get(tp, -1):
            offsets[tp] = r.offset + 1
    return offsets


def batch_keys(records: Sequence) -> frozenset:
    return frozenset(ANY_KEY if r.key is None else r.key for r in records)


def conflicts(a: frozenset, b: frozenset) -> bool:
    return ANY_KEY in a or ANY_KEY in b or not a.isdisjoint(b)


class _InFlight:
    def __init__(self, keys: frozenset, task: asyncio.Task) -> None:
        self.keys = keys
        self.task = task


class ConsumePipeline:
    """Applies fetched batches concurrently where their keys allow; commits offsets in order."""

    def __init__(self, processor: BatchProcessor, metrics: PlumbingMetrics, concurrency: int = 2) -> None:
        self._processor = processor
        self._metrics = metrics
        self._concurrency = max(1, concurrency)
        self._in_flight: list[_InFlight] = []
        self._last_commit: asyncio.Future | None = None
        self._closing = False

    async def submit(self, records: Sequence, consumer) -> bool:
        """Start applying a fetched batch; False when closing (the batch will be fetched again).

        Returns once the batch has started, after waiting for the batches it must follow: so
        the fetching waits too when the database is slow, and memory stays bounded.
        """
        keys = batch_keys(records)
        while True:
            if self._closing:
                return False
            self._in_flight = [b for b in self._in_flight if not b.task.done()]
            blocking = [b for b in self._in_flight if conflicts(b.keys, keys)]
            if not blocking and len(self._in_flight) < self._concurrency:
                break
            await asyncio.wait([b.task for b in blocking or self._in_flight], return_when=asyncio.FIRST_COMPLETED)
        previous = self._last_commit
        committed = self._last_commit = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._apply(records, consumer, previous, committed), name="consumer-batch")
        self._in_flight.append(_InFlight(keys, task))
        return True

    async def _apply(self, records: Sequence, consumer, previous: asyncio.Future | None,
                     committed: asyncio.Future) -> None:
        try:
            results = await self._apply_durably(records)
            # Offsets in the order the batches were fetched; none at all after a batch that was
            # cancelled unapplied (the service stopping): its records must be consumed again.
            if previous is not None and not await asyncio.shield(previous):
                return
            offsets = next_offsets(records)
            await commit_quietly(lambda: _commit(consumer, offsets), self._metrics)
            committed.set_result(True)
            self._processor.count(results)
            mark_processed(self._metrics, offsets)
        finally:
            if not committed.done():
                committed.set_result(False)  # later batches do not commit, and do not wait forever

    async def _apply_durably(self, records: Sequence) -> list:
        items = self._processor.decode(records)
        delay = 1.0
        while True:
            try:
                # Returns only when every record is applied or set aside; a database outage is
                # waited out there, so no offset moves past an unapplied record.
                return await self._processor.apply_decoded(items) if items else []
            except Exception:
                # Nothing foreseen raises here; whatever does, the batch is not skipped: it is
                # tried again, and the consumer lag and its alert show that the consumer is stuck.
                log.exception("consumer: a batch could not be applied; trying again in %.0fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def close(self, timeout: float) -> None:
        """Stop starting batches; let those in flight finish (offsets included)."""
        self._closing = True
        tasks = [b.task for b in self._in_flight if not b.task.done()]
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        if pending:
            log.warning("consumer: %d batch(es) not applied within %.0fs; they will be consumed again",
                        len(pending), timeout)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(BaseException):
                await task


async def _commit(consumer, offsets: dict[TopicPartition, int]) -> None:
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except ConsumerStoppedError as exc:
        raise KafkaError("consumer stopped") from exc
    # A partition no longer assigned (after a rebalance) raises IllegalStateError, a KafkaError:
    # its records go to the new owner, whose inbox drops what was applied here.
