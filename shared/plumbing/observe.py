"""Consumer observation: rebalances, lag by partition, last-processed time, and periodic refreshers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import ConsumerRebalanceListener, TopicPartition

from shared.plumbing.metrics import PlumbingMetrics

log = logging.getLogger(__name__)


class RebalanceCounter(ConsumerRebalanceListener):
    def __init__(self, metrics: PlumbingMetrics) -> None:
        self._metrics = metrics

    async def on_partitions_revoked(self, revoked) -> None:
        if revoked:
            self._metrics.rebalances.labels("revoked").inc()

    async def on_partitions_assigned(self, assigned) -> None:
        self._metrics.rebalances.labels("assigned").inc()
        self._metrics.consumer_assigned_partitions.set(len(assigned))


def mark_processed(metrics: PlumbingMetrics, partitions: Iterable[tuple[str, int]]) -> None:
    """The (topic, partition) pairs of a batch just applied."""
    now = time.time()
    for topic, partition in partitions:
        metrics.last_processed.labels(topic, str(partition)).set(now)


class LagWatcher:
    """Lag = end offset − committed offset of the group, per assigned partition.

    Measured from the broker every few seconds, not from the handler, so that a consumer
    stuck waiting for its database still shows its lag growing.
    """

    def __init__(self, metrics: PlumbingMetrics, consumers: Callable[[], list]) -> None:
        self._metrics = metrics
        self._consumers = consumers
        self._shown: set[tuple[str, str]] = set()

    async def measure(self) -> None:
        shown: set[tuple[str, str]] = set()
        for consumer in self._consumers():
            assigned: list[TopicPartition] = list(consumer.assignment())
            if not assigned:
                continue
            ends = await consumer.end_offsets(assigned)
            beginnings = await consumer.beginning_offsets(assigned)
            for tp in assigned:
                committed = await consumer.committed(tp)
                start = committed if committed is not None else beginnings.get(tp, 0)
                labels = (tp.topic, str(tp.partition))
                self._metrics.consumer_lag.labels(*labels).set(max(0, ends[tp] - start))
                shown.add(labels)
        for labels in self._shown - shown:
            self._metrics.consumer_lag.remove(*labels)
        self._shown = shown


async def every(seconds: float, what: str, action: Callable[[], Awaitable[None]]) -> None:
    """Run `action` forever, `seconds` apart; a failure is logged and tried again next time."""
    while True:
        try:
            await action()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - observation must never stop the service
            log.debug("%s failed: %s", what, exc)
        await asyncio.sleep(seconds)
