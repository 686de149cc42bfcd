"""A service's moving parts, started and stopped together in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from shared.contracts.topics import all_topic_names
from shared.plumbing.consumer import Apply, ApplyMany, BatchProcessor
from shared.plumbing.db import create_pool, migrate, packages_for
from shared.plumbing.kafka import ensure_topics, kafka_security, make_producer
from shared.plumbing.metrics import PlumbingMetrics
from shared.plumbing.observe import LagWatcher, RebalanceCounter, every
from shared.plumbing.outbox import OutboxRelay, backlog
from shared.plumbing.pacing import Pace
from shared.plumbing.pipeline import ConsumePipeline
from shared.plumbing.settings import ServiceSettings

log = logging.getLogger(__name__)


class Runtime:
    """Pool, migrations, outbox relay and (optionally) batch consumers of one service."""

    def __init__(
        self,
        settings: ServiceSettings,
        package: str,
        metrics: PlumbingMetrics,
        consumes: list[str] | None = None,
        apply: Apply | None = None,
        refusals: tuple[type[BaseException], ...] = (),
        refresh: Callable[[asyncpg.Pool], Awaitable[None]] | None = None,
        apply_many: ApplyMany | None = None,
    ) -> None:
        self.settings = settings
        self.package = package
        self.metrics = metrics
        self.consumes = consumes or []
        self._apply = apply
        self._apply_many = apply_many
        self._refusals = refusals
        self._refresh = refresh
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.broker: KafkaBroker | None = None
        self.pipeline: ConsumePipeline | None = None
        self._tasks: list[asyncio.Task] = []
        self._started = False
        self._kafka_start: asyncio.Task | None = None
        self._topics_checked_at: float | None = None
        s = settings
        self._security = kafka_security(s)
        self._pace = Pace(s.consumer_fetch_max_wait_ms / 1000, s.consumer_idle_fetch_wait_ms / 1000,
                          s.quiet_after_seconds)

    async def start(self) -> None:
        """PostgreSQL first and waited for: every write the service accepts goes through it. Kafka
        after, in the background: the service serves HTTP and accepts its own writes (they wait in
        the outbox) while the broker is unreachable, and joins its consumer group when it answers
        (until then /health/ready says the consumers are not assigned)."""
        s = self.settings
        await _retry_until_up("PostgreSQL", lambda: migrate(s.database_url, packages_for(self.package)))
        self.pool = await create_pool(s.database_url, s.database_pool_size, on_outbox_rows=self._wake_relay)
        self._tasks.append(asyncio.create_task(every(5, "outbox backlog", self._measure_backlog, self.metrics)))
        if self._refresh is not None:
            refresh = self._refresh
            self._tasks.append(asyncio.create_task(every(s.business_metrics_seconds, "business metrics",
                                                         lambda: refresh(self.pool), self.metrics)))
        self._kafka_start = asyncio.create_task(self._start_kafka(), name="kafka-start")
        self._kafka_start.add_done_callback(_said_if_failed)
        self._started = True

    async def kafka_started(self) -> None:
        """Wait until the producer, the relay and the consumers are started (tests, tools)."""
        await asyncio.shield(self._kafka_start)

    def wake_relay(self) -> None:
        self._wake_relay()

    async def _start_kafka(self) -> None:
        s = self.settings
        await _retry_until_up("Kafka", self.ensure_topics, timeout=None)
        self.producer = make_producer(s.kafka_bootstrap_servers, self._security)
        await self.producer.start()
        self.relay = OutboxRelay(
            self.pool, self.producer, self.metrics, s.relay_batch_size, s.relay_idle_seconds,
            s.relay_send_timeout_seconds, s.retry_max_seconds, s.relay_min_interval_seconds,
            s.relay_idle_max_seconds, s.quiet_after_seconds,
        )
        self.relay.on_kafka_error = self._after_kafka_error
        self.relay.before_send = self._topics_exist
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        self._tasks.append(asyncio.create_task(every(s.topic_check_seconds, "topics", self._watch_topics,
                                                     self.metrics)))
        if self.consumes and self._apply is not None:
            self.broker = self._build_broker()
            await self.broker.start()
            lag = LagWatcher(self.metrics, self._consumers)
            self._tasks.append(asyncio.create_task(every(10, "consumer lag", lag.measure, self.metrics)))
            self._tasks.append(asyncio.create_task(every(1, "consumer pace", self._slow_down, self.metrics)))

    @contextlib.asynccontextmanager
    async def lifespan(self, app=None):
        """A FastAPI lifespan: everything started before the first request, stopped after the last."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def ensure_topics(self) -> list[str]:
        s = self.settings
        return await ensure_topics(s.kafka_bootstrap_servers, s.topic_partitions, s.topic_replication_factor,
                                   security=self._security)

    def _wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    async def _after_kafka_error(self) -> None:
        self._topics_checked_at = None  # the broker may have come back empty: check before the next batch
        await self.ensure_topics()

    async def _topics_exist(self, topics: set[str]) -> None:
        """Before a relay batch: a metadata round trip, and the lost topics re-created if any.

        At most every `relay_topic_check_seconds` (a round trip per batch was a tenth of the
        relay's work under single-fact load), and always after a Kafka error. What this leaves
        open, a broker that lost its data and came back within that second without a single
        failed send, is what `parcours resync` is for.
        """
        now = asyncio.get_running_loop().time()
        checked = self._topics_checked_at
        if checked is not None and now - checked < self.settings.relay_topic_check_seconds:
            return
        cluster = await self.producer.client.fetch_all_metadata()
        if topics - cluster.topics():
            await self._check_topics()
        self._topics_checked_at = now

    async def _watch_topics(self) -> None:
        """One metadata round trip on the producer's connection; the admin client (a connection of
        its own) only when a topic is missing."""
        cluster = await self.producer.client.fetch_all_metadata()
        if set(all_topic_names()) - cluster.topics():
            await self._check_topics()

    async def _check_topics(self) -> None:
        """Re-create topics a broker has lost; relaying to them would otherwise go nowhere.

        A broker restarted empty acknowledges writes to topics it no longer has, so no send ever
        fails and the relay's own recovery never runs; and consumers' commits fail until the topics
        exist again. What was on the lost broker comes back with `parcours resync --since T`.
        """
        created = await self.ensure_topics()
        if not created:
            return
        self.metrics.topics_recreated.inc(len(created))
        log.warning("topics missing on the broker were created again: %s. If the broker lost its data, "
                    "re-publish from the outboxes: parcours resync --since <when it was lost>", ", ".join(created))
        for consumer in self._consumers():
            # A subscription notices new topics only at its next metadata refresh (minutes): now.
            await consumer._client.force_metadata_update()
        if self.relay is not None:
            self.relay.wake()

    def _build_broker(self) -> KafkaBroker:
        s = self.settings
        processor = BatchProcessor(
            self.pool, self._apply, self.metrics, self._refusals, s.max_message_bytes, s.retry_max_seconds,
            self._apply_many,
        )
        # FastStream logs every message at INFO; keep its own logger to warnings and errors.
        broker = KafkaBroker(s.kafka_bootstrap_servers, logger=logging.getLogger("parcours.faststream"),
                             log_level=logging.DEBUG, security=self._security)
        pipeline = self.pipeline = ConsumePipeline(processor, self.metrics, s.consumer_concurrency)

        # FastStream's Kafka defaults are at-most-once: commit manually, only after the
        # database transaction of the batch has committed, and start new groups at the
        # beginning so that no event published before the first start is skipped.
        @broker.subscriber(
            *self.consumes,
            batch=True,
            group_id=s.consumer_group,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            max_records=s.consumer_batch_size,
            batch_timeout_ms=s.consumer_batch_timeout_ms,
            fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
            session_timeout_ms=s.consumer_session_timeout_ms,
            heartbeat_interval_ms=max(500, s.consumer_session_timeout_ms // 6),
            max_poll_interval_ms=10 * 60 * 1000,
            listener=RebalanceCounter(self.metrics),
            decoder=_records_only,
        )
        async def consume(msg: KafkaMessage) -> None:
            if self._pace.busy():
                self._set_waits()
            # Applied and committed by the pipeline, beside other batches where their keys allow.
            await pipeline.submit(msg.raw_message or (), msg.consumer)

        return broker

    async def _slow_down(self) -> None:
        before = self._pace.current
        if self._pace.quiet() != before:
            self._set_waits()

    def _set_waits(self) -> None:
        """The consumers' fetch wait and poll timeout at the pace's current value. Neither has a
        public setter: the fetcher reads its attribute for each new fetch request, FastStream's
        batch subscriber its own for each poll (tests/unit/test_pacing.py checks both exist)."""
        s, ms = self.settings, round(self._pace.current * 1000)
        for consumer in self._consumers():
            if consumer._fetcher is not None:
                consumer._fetcher._fetch_max_wait_ms = ms
        poll = max(s.consumer_batch_timeout_ms, min(ms, s.consumer_idle_batch_timeout_ms))
        for subscriber in self.broker.subscribers if self.broker is not None else ():
            subscriber.batch_timeout_ms = poll

    async def _measure_backlog(self) -> None:
        rows, oldest = await backlog(self.pool)
        self.metrics.outbox_backlog.set(rows)
        self.metrics.outbox_oldest_seconds.set(oldest)

    def _consumers(self) -> list:
        if self.broker is None:
            return []
        return [c for c in (getattr(sub, "consumer", None) for sub in self.broker.subscribers) if c is not None]

    def consumers_assigned(self) -> bool:
        if not self.consumes:
            return True
        consumers = self._consumers()
        return bool(consumers) and all(c.assignment() for c in consumers)

    async def database_ok(self) -> bool:
        if self.pool is None:
            return False
        try:
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2)
            return True
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False

    async def stop(self) -> None:
        # Consumers first: the batches in flight finish and their offsets are committed while the
        # consumer is still there to commit them (a batch that cannot finish, the database away,
        # is consumed again at the next start); then the relay gets one last chance to drain,
        # then the clients. A start still waiting for Kafka is given up.
        if self._kafka_start is not None and not self._kafka_start.done():
            self._kafka_start.cancel()
            with contextlib.suppress(BaseException):
                await self._kafka_start
        if self.pipeline is not None:
            await self.pipeline.close(10)
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.broker.stop(), 15)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.relay is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.relay.relay_once(), 5)
        if self.producer is not None:
            # aiokafka's stop() can hang while the broker is down.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.producer.stop(), 5)
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), 5)


async def _records_only(msg) -> None:
    """The handler reads the raw records (BatchProcessor decodes and validates each against the
    contracts), so FastStream's own JSON decoding of every body, a quarter of a consumer's time,
    is skipped."""
    return None


def _said_if_failed(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the Kafka half of the start failed: %s: %s; the service accepts writes (into its outbox) "
                  "but does not publish or consume: restart it", type(task.exception()).__name__, task.exception())


async def _retry_until_up(what: str, attempt, timeout: float | None = 120.0) -> None:
    """At start-up, wait for a dependency that is still coming up rather than crash (with no
    timeout, for as long as it takes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout is not None else float("inf")
    delay = 0.2
    while True:
        try:
            await attempt()
            return
        except Exception as exc:  # noqa: BLE001
            if loop.time() > deadline:
                raise
            log.warning("%s not reachable yet (%s: %s); retrying", what, type(exc).__name__, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)
