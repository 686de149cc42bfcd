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
            # One OffsetFetch for every partition: the public `committed(tp)` asks once per
            # partition, four dozen requests a round for a service doing nothing.
            commits = await consumer._coordinator.fetch_committed_offsets(assigned)
            committed = {tp: c.offset for tp, c in commits.items() if c.offset >= 0}
            fresh = [tp for tp in assigned if tp not in committed]
            beginnings = await consumer.beginning_offsets(fresh) if fresh else {}
            for tp in assigned:
                start = committed[tp] if tp in committed else beginnings.get(tp, 0)
                labels = (tp.topic, str(tp.partition))
                self._metrics.consumer_lag.labels(*labels).set(max(0, ends[tp] - start))
                shown.add(labels)
        for labels in self._shown - shown:
            self._metrics.consumer_lag.remove(*labels)
        self._shown = shown


# While a periodic task keeps failing, it is said again at most this often.
REPEAT_WARNING_SECONDS = 60.0


async def every(seconds: float, what: str, action: Callable[[], Awaitable[None]],
                metrics: PlumbingMetrics | None = None) -> None:
    """Run `action` forever, `seconds` apart; a failure is counted, logged at WARNING with the task's
    name (then at most once a minute while it lasts, and its end at INFO), and tried again next time."""
    failing_since: float | None = None
    warned_at = 0.0
    while True:
        try:
            await action()
            if failing_since is not None:
                log.info("%s works again after %.0f s of failures", what, time.monotonic() - failing_since)
                failing_since = None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a periodic task must never stop the service
            now = time.monotonic()
            if metrics is not None:
                metrics.periodic_failures.labels(what).inc()
            if failing_since is None or now - warned_at >= REPEAT_WARNING_SECONDS:
                log.warning("periodic task %r failed: %s: %s", what, type(exc).__name__, exc)
                warned_at = now
            failing_since = failing_since or now
        await asyncio.sleep(seconds)
