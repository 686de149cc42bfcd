"""Batched, idempotent consumption: inbox, dead letters, retries, offsets committed after the effect.

A service gives an `apply(conn, event)` coroutine. For each batch of records the
consumer, in ONE database transaction, claims every event id in `processed_events`
(the inbox), applies only the new ones, and sets aside the poison; the offsets are
committed only after that transaction has committed. A crash anywhere before the
commit replays the batch, and the inbox drops what was already applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from shared.contracts import Envelope, UnknownEventType, decode_event, dlq_topic
from shared.contracts.codec import header
from shared.plumbing.db import TRANSIENT_DB_ERRORS
from shared.plumbing.metrics import PlumbingMetrics
from shared.plumbing.outbox import _headers_json, add_rows

log = logging.getLogger(__name__)

Apply = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]
# Applies a batch's new events, in the order consumed, and returns those it refused (by event id)
# with the reason. Nothing may be written for a refused event; any other exception fails the batch,
# which is then applied one event at a time so that only the culprit is set aside.
ApplyMany = Callable[[asyncpg.Connection, list[Envelope]], Awaitable[dict[uuid.UUID, BaseException]]]

CLAIM = """
INSERT INTO processed_events (event_id, event_type, topic)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""
UNCLAIM = "DELETE FROM processed_events WHERE event_id = ANY($1::uuid[])"
INSERT_DEAD_LETTER = """
INSERT INTO dead_letters (topic, partition, "offset", key, payload, headers, reason, error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT DO NOTHING
RETURNING id
"""


@dataclass(slots=True)
class Item:
    """One consumed record, decoded or with the reason it could not be."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]]
    event: Envelope | None = None
    reason: str | None = None
    error: str | None = None


class BatchProcessor:
    """Applies batches of records; knows nothing of how they were fetched."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        apply: Apply,
        metrics: PlumbingMetrics,
        refusals: tuple[type[BaseException], ...] = (),
        max_message_bytes: int = 1_000_000,
        retry_max_seconds: float = 5.0,
        apply_many: ApplyMany | None = None,
    ) -> None:
        self._pool = pool
        self._metrics = metrics
        self._refusals = tuple(refusals)
        self._apply_many = apply_many or one_by_one(apply, self._refusals)
        self._max_bytes = max_message_bytes
        self._retry_max = retry_max_seconds

    def decode(self, records: Sequence) -> list[Item]:
        items = []
        for r in records:
            value = r.value if r.value is not None else b""
            item = Item(r.topic, r.partition, r.offset, r.key, value, r.headers or ())
            if len(value) > self._max_bytes:
                item.reason, item.error = "oversized", f"{len(value)} bytes > {self._max_bytes}"
            else:
                try:
                    item.event = decode_event(value, item.headers)
                except UnknownEventType as exc:
                    item.reason, item.error = "unknown_type", str(exc)
                except ValidationError as exc:
                    item.reason = "undecodable" if _is_json_error(exc) else "invalid_schema"
                    item.error = _short(exc)
                except (ValueError, UnicodeDecodeError) as exc:
                    item.reason, item.error = "undecodable", _short(exc)
            items.append(item)
        return items

    async def apply_decoded(self, items: list[Item]) -> list[tuple[Item, str]]:
        """Apply decoded records durably; return each with what became of it, for `count`."""
        # `apply` must raise a refusal before it writes anything for that event: the
        # batch shares one transaction, so a write followed by a refusal would stay.
        started = time.perf_counter()
        try:
            results = await self._with_retry(lambda: self._in_one_transaction(items))
        except _IsolateNeeded:
            # Something in the batch failed in a way we did not foresee: apply the records one
            # by one so that only the culprit is set aside, in order.
            results = []
            for item in items:
                results.extend(await self._with_retry(lambda item=item: self._single(item)))
        self._metrics.batch_seconds.observe(time.perf_counter() - started)
        return results

    def count(self, results: list[tuple[Item, str]]) -> None:
        # Counted per batch, not per event: a labelled child lookup per event was a tenth of the work.
        consumed: Counter = Counter()
        dead: Counter = Counter()
        recorded: dict[str, list[float]] = {}
        for item, result in results:
            event = item.event
            consumed[(item.topic, event.event_type if event is not None else "unknown", result)] += 1
            if result == "dead_lettered":
                dead[(item.topic, item.reason or "unknown")] += 1
            elif result == "applied" and event is not None:
                times = recorded.get(item.topic)
                if times is None:
                    times = recorded[item.topic] = []
                times.append(event.recorded_at.timestamp())
        for labels, n in consumed.items():
            self._metrics.events_consumed.labels(*labels).inc(n)
        for labels, n in dead.items():
            self._metrics.dead_lettered.labels(*labels).inc(n)
        now = time.time()
        for topic, times in recorded.items():
            observe = self._metrics.end_to_end_seconds.labels(topic).observe
            for at in times:
                observe(now - at if now > at else 0.0)

    async def _with_retry(self, attempt):
        delay = 0.1
        while True:
            try:
                return await attempt()
            except TRANSIENT_DB_ERRORS as exc:
                # The database is away: wait and try the same batch again; never dead-letter.
                self._metrics.events_consumed.labels("all", "all", "retried").inc()
                log.warning("consumer: %s: %s; retrying in %.1fs", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)

    async def _in_one_transaction(self, items: list[Item]) -> list[tuple[Item, str]]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                return await self._apply_items(conn, items)
        except TRANSIENT_DB_ERRORS:
            raise
        except Exception as exc:
            if len(items) == 1:
                raise
            log.info("consumer: batch of %d failed (%s); applying one by one", len(items), exc)
            raise _IsolateNeeded from exc

    async def _single(self, item: Item) -> list[tuple[Item, str]]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                return await self._apply_items(conn, [item])
        except TRANSIENT_DB_ERRORS:
            raise
        except Exception as exc:
            log.exception("consumer: unexpected error on %s[%d]@%d", item.topic, item.partition, item.offset)
            item.reason, item.error = "unexpected_error", _short(exc)
            item.event = None
            async with self._pool.acquire() as conn, conn.transaction():
                return await self._apply_items(conn, [item])

    async def _apply_items(self, conn: asyncpg.Connection, items: list[Item]) -> list[tuple[Item, str]]:
        good = [i for i in items if i.event is not None]
        fresh: set = set()
        all_fresh = False
        if good:
            claimed = await conn.fetch(
                CLAIM,
                [i.event.event_id for i in good],
                [i.event.event_type for i in good],
                [i.topic for i in good],
            )
            # Every one claimed: none seen before and none twice in the batch (a second copy
            # conflicts with the first), so there is nothing to sort out event by event.
            all_fresh = len(claimed) == len(good)
            if not all_fresh:
                fresh = {r["event_id"] for r in claimed}
        outcome: dict[int, str] = {}
        to_apply: list[tuple[int, Item]] = []
        for n, item in enumerate(items):
            if item.event is None:
                outcome[n] = await self._dead_letter(conn, item)
            elif all_fresh:
                to_apply.append((n, item))
            elif item.event.event_id not in fresh:
                outcome[n] = "duplicate"
            else:
                fresh.discard(item.event.event_id)  # a second copy in the same batch is a duplicate
                to_apply.append((n, item))
        refused = await self._apply_many(conn, [item.event for _, item in to_apply]) if to_apply else {}
        if refused:
            # Release the claims so that `parcours dlq replay` can apply them after a fix.
            await conn.execute(UNCLAIM, list(refused))
        for n, item in to_apply:
            exc = refused.get(item.event.event_id)
            if exc is None:
                outcome[n] = "applied"
            else:
                item.reason, item.error = "refused", _short(exc)
                outcome[n] = await self._dead_letter(conn, item)
        return [(item, outcome[n]) for n, item in enumerate(items)]

    async def _dead_letter(self, conn: asyncpg.Connection, item: Item) -> str:
        headers = _headers_json(item.headers)
        new = await conn.fetchval(
            INSERT_DEAD_LETTER, item.topic, item.partition, item.offset, item.key, item.value,
            headers, item.reason, item.error or "",
        )
        if new is None:
            return "duplicate"  # the same poison record redelivered: already set aside
        dlq_headers = headers + [
            ["dlq_reason", item.reason or ""],
            ["dlq_error", (item.error or "")[:1000]],
            ["dlq_source", f"{item.topic}/{item.partition}/{item.offset}"],
        ]
        copy = item.value
        if _copy_size(copy, dlq_headers) > self._max_bytes:
            # With its extra headers the copy would pass the broker's size limit and could never be
            # published; the dead_letters row keeps the payload for `parcours dlq list|replay`.
            dlq_headers.append(["dlq_payload_omitted", f"{len(copy)} bytes, kept in the service's dead letters"])
            copy = b""
        event_type = header(item.headers, "event_type")
        await add_rows(conn, [(dlq_topic(item.topic), item.key, copy, dlq_headers, None, event_type)])
        return "dead_lettered"


def one_by_one(apply: Apply, refusals: tuple[type[BaseException], ...]) -> ApplyMany:
    """ApplyMany from a per-event `apply`, which must refuse an event before writing anything for it."""

    async def apply_many(conn: asyncpg.Connection, events: list[Envelope]) -> dict[uuid.UUID, BaseException]:
        refused: dict[uuid.UUID, BaseException] = {}
        for event in events:
            try:
                await apply(conn, event)
            except refusals as exc:
                refused[event.event_id] = exc
        return refused

    return apply_many


class _IsolateNeeded(Exception):
    pass


def _is_json_error(exc: ValidationError) -> bool:
    return any(e.get("type") == "json_invalid" for e in exc.errors())


def _copy_size(value: bytes, headers: list[list[str]]) -> int:
    return len(value) + sum(len(k) + len(v.encode()) for k, v in headers)


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    return text[:500]


async def commit_quietly(commit: Callable[[], Awaitable[None]], metrics: PlumbingMetrics) -> None:
    """Commit offsets; a failed commit (after a rebalance) only means redelivery, which the inbox absorbs."""
    try:
        await commit()
    except KafkaError as exc:
        metrics.commit_failures.inc()
        log.warning("consumer: offset commit failed (%s); records will be redelivered", exc)
