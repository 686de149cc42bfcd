"""Progress's SQL on the xAPI statements an LMS posted (the LRS's own store)."""

from __future__ import annotations

import json

INSERT = """
INSERT INTO xapi_statements (statement_id, centre_id, statement, stored_at, verb, status, code, reason, event_id)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::uuid[])
"""
EXISTING = "SELECT statement_id, statement FROM xapi_statements WHERE statement_id = ANY($1::uuid[])"
GET = "SELECT statement, centre_id, voided_by FROM xapi_statements WHERE statement_id = $1"
VOID = "UPDATE xapi_statements SET voided_by = $2 WHERE statement_id = $1 AND voided_by IS NULL"
# The centre's statements, by the moment stored, for the filtered and paged GET.
LIST = """
SELECT statement_id, statement, stored_at FROM xapi_statements
WHERE ($1::uuid IS NULL OR centre_id = $1) AND voided_by IS NULL
  AND ($2::text IS NULL OR verb = $2)
  AND ($3::timestamptz IS NULL OR stored_at > $3) AND ($4::timestamptz IS NULL OR stored_at <= $4)
  AND ($5::timestamptz IS NULL OR (stored_at, statement_id) > ($5, $6::uuid))
ORDER BY stored_at, statement_id LIMIT $7
"""
ATTENTION = """
SELECT statement_id, stored_at, code, reason, statement FROM xapi_statements
WHERE status = 'attention' AND ($1::uuid IS NULL OR centre_id = $1)
ORDER BY stored_at, statement_id LIMIT $2
"""
COUNT_ATTENTION = "SELECT count(*) FROM xapi_statements WHERE status = 'attention'"


async def insert(conn, rows: list[tuple]) -> None:
    """Rows of (statement_id, centre_id, statement dict, stored_at, verb, status, code, reason, event_id)."""
    if rows:
        columns = list(zip(*rows, strict=True))
        columns[2] = [json.dumps(s) for s in columns[2]]
        await conn.execute(INSERT, *[list(c) for c in columns])


async def existing(conn, ids: list) -> dict:
    """statement_id -> statement, of these ids already kept."""
    return {r["statement_id"]: json.loads(r["statement"]) for r in await conn.fetch(EXISTING, ids)}


async def get(conn, statement_id) -> dict | None:
    row = await conn.fetchrow(GET, statement_id)
    return None if row is None else {**dict(row), "statement": json.loads(row["statement"])}


async def void(conn, statement_id, by) -> bool:
    return (await conn.execute(VOID, statement_id, by)).split()[-1] == "1"


async def listed(conn, centre_id, verb, since, until, after: tuple | None, limit: int) -> list[dict]:
    rows = await conn.fetch(LIST, centre_id, verb, since, until, *(after or (None, None)), limit)
    return [{**dict(r), "statement": json.loads(r["statement"])} for r in rows]


async def attention(conn, centre_id, limit: int) -> list[dict]:
    return [{**dict(r), "statement": json.loads(r["statement"])} for r in await conn.fetch(ATTENTION, centre_id,
                                                                                          limit)]


async def count_attention(conn) -> int:
    return await conn.fetchval(COUNT_ATTENTION)
