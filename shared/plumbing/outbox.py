"""Transactional outbox: events written with the state change, published later by the relay."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError

from shared.contracts import Envelope, encode_event, topic_for
from shared.contracts.codec import event_headers
from shared.plumbing.db import TRANSIENT_DB_ERRORS, insert_rows
from shared.plumbing.metrics import PlumbingMetrics
from shared.plumbing.pacing import Pace

log = logging.getLogger(__name__)

COLUMNS = ["topic", "key", "payload", "headers", "event_id", "event_type"]
INSERT_ROWS = """
INSERT INTO outbox (topic, key, payload, headers, event_id, event_type)
SELECT topic, key, payload, headers::jsonb, event_id, event_type
FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[], $5::uuid[], $6::text[])
     AS u(topic, key, payload, headers, event_id, event_type)
"""
# Only one relay publishes at a time per database, so that rows of one key leave in id order
# even with several instances of a service; a transaction-level lock is safe with a pool.
TRY_LOCK = "SELECT pg_try_advisory_xact_lock(7310002)"
SELECT_UNPUBLISHED = """
SELECT id, topic, key, payload, headers FROM outbox
WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""
MARK_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
MARK_UNSENDABLE = "UPDATE outbox SET published_at = now(), unsendable = $2 WHERE id = $1"
BACKLOG = """
SELECT count(*) AS rows, extract(epoch FROM now() - min(created_at)) AS oldest_seconds
FROM outbox WHERE published_at IS NULL
"""
REPUBLISH_SINCE = "UPDATE outbox SET published_at = NULL WHERE created_at >= $1 AND published_at IS NOT NULL"


async def add_events(conn: asyncpg.Connection, events: Iterable[Envelope]) -> int:
    """Queue events for publication in the caller's transaction."""
    rows = []
    for event in events:
        key, value, _ = encode_event(event)
        rows.append((topic_for(event.event_type), key, value, _headers_value(event.event_type, event.schema_version),
                     event.event_id, event.event_type))
    if rows:
        await add_rows(conn, rows)
    return len(rows)


async def add_rows(conn: asyncpg.Connection, rows: list[tuple]) -> None:
    """Queue raw rows (topic, key, value, headers as [[name, value]...], event_id, event_type)."""
    await insert_rows(conn, "outbox", COLUMNS, rows, INSERT_ROWS, _headers_as_text)
    # A pooled connection (shared.plumbing.db.Connection) wakes the relay when it is released,
    # after the commit; others leave the rows to the relay's next poll.
    note = getattr(conn, "note_outbox_rows", None)
    if note is not None:
        note()


def _headers_as_text(columns: list[list]) -> list[list]:
    # Headers travel as JSON text to the INSERT: a list of pairs inside an array parameter would
    # be read as a multi-dimensional array.
    columns[3] = [json.dumps(h) for h in columns[3]]
    return columns


_HEADERS: dict[tuple[str, int], list[list[str]]] = {}


def _headers_value(event_type: str, version: int) -> list[list[str]]:
    """The outbox's JSON form of an event's headers, built once per type and version rather than
    once per event (a tenth of a batch POST's time went to it). Shared: never to be changed."""
    value = _HEADERS.get((event_type, version))
    if value is None:
        value = _HEADERS[(event_type, version)] = _headers_json(event_headers(event_type, version))
    return value


def _headers_json(headers: list[tuple[str, bytes]]) -> list[list[str]]:
    return [[k, v.decode("utf-8", errors="replace")] for k, v in headers]


def headers_from_json(headers: list[list[str]]) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in headers]


async def backlog(pool: asyncpg.Pool) -> tuple[int, float]:
    """(unpublished rows, age in seconds of the oldest one)."""
    row = await pool.fetchrow(BACKLOG)
    return int(row["rows"]), float(row["oldest_seconds"] or 0.0)


async def republish_since(pool: asyncpg.Pool, since: datetime) -> int:
    """Mark rows created since `since` unpublished again: the relay re-sends them (broker recovery)."""
    status = await pool.execute(REPUBLISH_SINCE, since)
    return int(status.split()[-1])


class OutboxRelay:
    """Publishes unpublished outbox rows in keyed batches, then marks them.

    Each row is sent with its key and the futures are gathered: never one awaited
    confirmation per event. Rows are marked only after every send of the batch was
    acknowledged (acks=all), in the same transaction that locked them; a crash in
    between re-sends the batch, and consumers drop the duplicates through their inbox.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        metrics: PlumbingMetrics,
        batch_size: int = 1000,
        idle_seconds: float = 0.05,
        send_timeout: float = 30.0,
        retry_max_seconds: float = 5.0,
        min_interval_seconds: float = 0.005,
        idle_max_seconds: float = 1.0,
        quiet_after_seconds: float = 2.0,
    ) -> None:
        self._pool = pool
        self._min_interval = min_interval_seconds
        self._producer = producer
        self._metrics = metrics
        self._batch_size = batch_size
        # Its own process's commits wake the relay; the poll, at this pace, serves rows queued by
        # another instance or outside the pool.
        self._pace = Pace(idle_seconds, idle_max_seconds, quiet_after_seconds)
        self._send_timeout = send_timeout
        self._retry_max = retry_max_seconds
        self._wake = asyncio.Event()
        self.on_kafka_error = None  # optional coroutine function, e.g. re-create lost topics
        # Optional coroutine function given the batch's topics, awaited before sending: a broker
        # that lost its data acknowledges writes to topics it no longer has, so they must exist first.
        self.before_send = None

    def wake(self) -> None:
        """Tell the relay there is something to send (it also polls)."""
        self._wake.set()

    async def relay_once(self) -> int:
        """Publish one batch; return how many rows were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(TRY_LOCK):
                return 0
            rows = await conn.fetch(SELECT_UNPUBLISHED, self._batch_size)
            if not rows:
                return 0
            if self.before_send is not None:
                await self.before_send({row["topic"] for row in rows})
            futures, sending = [], []
            for row in rows:
                try:
                    futures.append(await self._producer.send(
                        row["topic"], row["payload"], key=row["key"],
                        headers=headers_from_json(row["headers"]),
                    ))
                except MessageSizeTooLargeError as exc:
                    # Permanent: retrying would hold back every later row. Set aside, counted, logged.
                    await self._set_aside(conn, row, exc)
                    continue
                sending.append(row)
            outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), self._send_timeout)
            sent = []
            for row, outcome in zip(sending, outcomes, strict=True):
                if isinstance(outcome, MessageSizeTooLargeError):  # the broker's own limit is lower
                    await self._set_aside(conn, row, outcome)
                elif isinstance(outcome, BaseException):
                    raise outcome  # transient: the whole batch is sent again, consumers drop duplicates
                else:
                    sent.append(row["id"])
            await conn.execute(MARK_PUBLISHED, sent)
        self._metrics.outbox_published.inc(len(sent))
        return len(rows)

    async def _set_aside(self, conn: asyncpg.Connection, row: asyncpg.Record, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:500]
        log.error("outbox relay: row %d for %s (%d bytes) can never be sent, set aside: %s",
                  row["id"], row["topic"], len(row["payload"]), reason)
        await conn.execute(MARK_UNSENDABLE, row["id"], reason)
        self._metrics.outbox_unsendable.labels(row["topic"]).inc()

    async def run(self) -> None:
        delay = 0.1
        loop = asyncio.get_running_loop()
        last_round = 0.0
        while True:
            try:
                # Under a stream of single commits every one wakes the relay: a short pause between
                # rounds lets one round carry several rows instead of costing a round per request.
                pause = self._min_interval - (loop.time() - last_round)
                if pause > 0:
                    await asyncio.sleep(pause)
                # Cleared before the round, not after: a wake-up during it starts the next at once.
                self._wake.clear()
                last_round = loop.time()
                sent = await self.relay_once()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except (KafkaError, *TRANSIENT_DB_ERRORS) as exc:
                self._metrics.outbox_publish_failures.inc()
                log.warning("outbox relay: %s: %s; retrying in %.1fs", type(exc).__name__, exc, delay)
                if isinstance(exc, KafkaError) and self.on_kafka_error is not None:
                    try:
                        await self.on_kafka_error()
                    except Exception as again:  # noqa: BLE001 - the next round retries anyway
                        log.warning("outbox relay: recovery step failed: %s", again)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            except Exception:
                self._metrics.outbox_publish_failures.inc()
                log.exception("outbox relay: unexpected error; retrying in %.1fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            if sent:
                self._pace.busy()
            if sent < self._batch_size:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._pace.current if sent else self._pace.quiet())
                    self._pace.busy()
                except TimeoutError:
                    pass
