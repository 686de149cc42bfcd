"""Dead letters: list what a service set aside, and re-drive it after a fix.

Only the plumbing queries the `dead_letters` table. A replay writes the original message back
to its source topic through the outbox (same key, bytes and headers), so it is published like
any other event; the consumers that had applied it already drop it through their inbox.
"""

from __future__ import annotations

import json
import uuid

import asyncpg

from shared.plumbing.outbox import add_rows

# A refused event decoded fine, so its payload names its event_id: `applied` says whether it has
# been applied since (delivered again after a fix or a resync) although never replayed from here.
LIST = """
SELECT id, topic, partition, "offset", reason, error, dead_lettered_at, replayed_at,
       (SELECT h->>1 FROM jsonb_array_elements(headers) h WHERE h->>0 = 'event_type' LIMIT 1) AS event_type,
       CASE WHEN reason = 'refused' THEN payload END AS refused_payload
FROM dead_letters
WHERE ($1::boolean OR replayed_at IS NULL) AND ($2::text IS NULL OR reason = $2)
ORDER BY id LIMIT $3
"""
TO_REPLAY = """
SELECT id, topic, key, payload, headers FROM dead_letters
WHERE replayed_at IS NULL AND (id = ANY($1::bigint[]) OR ($2::boolean AND ($3::text IS NULL OR reason = $3)))
ORDER BY id FOR UPDATE
"""
APPLIED_AMONG = "SELECT event_id FROM processed_events WHERE event_id = ANY($1::uuid[])"
MARK_REPLAYED = "UPDATE dead_letters SET replayed_at = now() WHERE id = ANY($1::bigint[])"


async def list_dead_letters(pool: asyncpg.Pool, include_replayed: bool = False, reason: str | None = None,
                            limit: int = 100) -> list[dict]:
    rows = [dict(r) for r in await pool.fetch(LIST, include_replayed, reason, limit)]
    ids = {r["id"]: _event_id(r.pop("refused_payload")) for r in rows}
    applied = {r["event_id"] for r in await pool.fetch(APPLIED_AMONG, [i for i in ids.values() if i is not None])}
    for r in rows:
        r["applied"] = ids[r["id"]] in applied
    return rows


def _event_id(payload: bytes | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(json.loads(payload)["event_id"]) if payload else None
    except (ValueError, TypeError, KeyError):
        return None


async def replay(pool: asyncpg.Pool, ids: list[int] | None = None, everything: bool = False,
                 reason: str | None = None) -> list[int]:
    """Queue the chosen dead letters for re-publication to their source topic; return their ids."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(TO_REPLAY, ids or [], everything, reason)
        if rows:
            await add_rows(conn, [(r["topic"], r["key"], r["payload"], r["headers"], None, None) for r in rows])
            await conn.execute(MARK_REPLAYED, [r["id"] for r in rows])
    return [r["id"] for r in rows]

