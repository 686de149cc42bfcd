"""Erasure of the copies of events a service keeps: its outbox (published again by every `resync`)
and its dead letters (with their `.dlq` copies queued in the outbox); and the tombstone list of
erasures each service keeps, which `parcours restore-check` applies again after a restore.

The free-text fields of each event type (`shared.contracts.events.FREE_TEXT`) are replaced by
`(erased)` in every copy keyed by the learner; a kept payload that cannot be read as an event (an
undecodable dead letter) is replaced whole, since nothing says what it holds. Erasures are rare
and manual: the tables are read by key, without an index of their own.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import asyncpg

from shared.contracts.events import ERASED, FREE_TEXT

# Table names are constants of this module, never input.
TABLES = ("outbox", "dead_letters")


def redacted(payload: bytes) -> bytes | None:
    """The payload with its free text erased, or None when there is nothing to erase."""
    try:
        event = json.loads(payload)
    except ValueError:
        return ERASED.encode() if payload != ERASED.encode() else None
    if not isinstance(event, dict):
        return None
    fields = FREE_TEXT.get(event.get("event_type"), ())
    data = event.get("data")
    if not isinstance(data, dict) or not any(data.get(f) not in (None, ERASED) for f in fields):
        return None
    event["data"] = {**data, **{f: ERASED for f in fields if data.get(f) is not None}}
    return json.dumps(event, separators=(",", ":")).encode()


async def erase_kept_copies(conn: asyncpg.Connection, learner_id) -> int:
    """Erase the learner's free text in this service's outbox and dead letters; return the rows changed."""
    key = str(learner_id).encode()
    changed = 0
    for table in TABLES:
        for row in await conn.fetch(f"SELECT id, payload FROM {table} WHERE key = $1", key):
            payload = redacted(row["payload"])
            if payload is not None:
                await conn.execute(f"UPDATE {table} SET payload = $2 WHERE id = $1", row["id"], payload)
                changed += 1
    return changed


RECORD = "INSERT INTO erasures (learner_id, erased_at) VALUES ($1, $2) ON CONFLICT (learner_id) DO NOTHING"
LIST = "SELECT learner_id, erased_at FROM erasures ORDER BY erased_at, learner_id"


async def record_erasure(conn: asyncpg.Connection, learner_id, erased_at) -> None:
    """Add the learner to this service's tombstone list (once: the first erasure's moment stays)."""
    await conn.execute(RECORD, learner_id, erased_at)


async def tombstones(conn: asyncpg.Connection) -> list[dict]:
    """Every erasure this service applied: learner_id, erased_at."""
    return [dict(r) for r in await conn.fetch(LIST)]


async def apply_erasure(conn: asyncpg.Connection, learner_id, erased_at,
                        erase_own: Callable[[asyncpg.Connection, object], Awaitable[int]]) -> int:
    """What `learner.erased` does in a service: its own tables' free text (`erase_own`, the service's
    store, returning the rows it changed), its kept copies of events, and its tombstone; returns the
    rows changed (0 when everything already was erased). Repeating it is harmless, which is what
    lets a restore apply it again."""
    changed = await erase_own(conn, learner_id)
    changed += await erase_kept_copies(conn, learner_id)
    await record_erasure(conn, learner_id, erased_at)
    return changed
