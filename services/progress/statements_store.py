"""Progress's SQL on the xAPI statements an LMS posted (the LRS's own store). The pool's codec
reads and writes jsonb as Python values (shared.plumbing.db)."""

from __future__ import annotations

from shared.plumbing.db import insert_rows

COLUMNS = ["statement_id", "centre_id", "statement", "stored_at", "verb", "status", "code", "reason", "event_id"]
INSERT = """
INSERT INTO xapi_statements (statement_id, centre_id, statement, stored_at, verb, status, code, reason, event_id)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::uuid[])
"""
EXISTING = "SELECT statement_id, statement, centre_id FROM xapi_statements WHERE statement_id = ANY($1::uuid[])"
GET = "SELECT statement, centre_id, voided_by FROM xapi_statements WHERE statement_id = $1"
VOID = "UPDATE xapi_statements SET voided_by = $2 WHERE statement_id = $1 AND voided_by IS NULL"
# A page of the centre's statements (admin: all), voided ones left out, by the moment stored and
# then the id, ascending or descending. $1 centre, $2 since (excluded), $3 until (included), $4 and
# $5 the last of the previous page, $6 how many.
PAGE = """
SELECT s.statement_id, s.statement, s.stored_at FROM xapi_statements s {matched}
WHERE ($1::uuid IS NULL OR s.centre_id = $1) AND s.voided_by IS NULL
  AND ($2::timestamptz IS NULL OR s.stored_at > $2) AND ($3::timestamptz IS NULL OR s.stored_at <= $3)
  AND ($4::timestamptz IS NULL OR (s.stored_at, s.statement_id) {beyond} ($4, $5::uuid))
ORDER BY s.stored_at {order}, s.statement_id {order} LIMIT $6
"""
# The statements a filter matches: $7 the verb, $8 and $9 where the agent and the activity may stand
# (JSON containment patterns, any of them), $10 the registration's; then, again and again, those
# whose object is a StatementRef to one matched (Communication 2.1.4: a statement referring to a
# match matches, the voiding statement of a voided one too). Voided ones match, to be referred to.
MATCHED = """
WITH RECURSIVE matched(statement_id) AS (
    SELECT statement_id FROM xapi_statements
    WHERE ($1::uuid IS NULL OR centre_id = $1) AND ($7::text IS NULL OR verb = $7)
      AND ($8::jsonb[] IS NULL OR statement_id IN (
          SELECT x.statement_id FROM unnest($8::jsonb[]) AS p(pattern)
          JOIN xapi_statements x ON x.statement @> p.pattern))
      AND ($9::jsonb[] IS NULL OR statement_id IN (
          SELECT x.statement_id FROM unnest($9::jsonb[]) AS p(pattern)
          JOIN xapi_statements x ON x.statement @> p.pattern))
      AND ($10::jsonb IS NULL OR statement @> $10)
  UNION
    SELECT r.statement_id FROM matched m JOIN xapi_statements r
      ON r.statement #>> '{object,objectType}' = 'StatementRef' AND r.statement #>> '{object,id}' = m.statement_id::text
    WHERE $1::uuid IS NULL OR r.centre_id = $1
)
"""
PAGES = {(filtered, ascending): (MATCHED if filtered else "") + PAGE.format(
    matched="JOIN matched USING (statement_id)" if filtered else "", beyond=">" if ascending else "<",
    order="ASC" if ascending else "DESC") for filtered in (False, True) for ascending in (False, True)}
ATTENTION = """
SELECT statement_id, stored_at, code, reason, statement FROM xapi_statements
WHERE status = 'attention' AND ($1::uuid IS NULL OR centre_id = $1)
ORDER BY stored_at, statement_id LIMIT $2
"""
COUNT_ATTENTION = "SELECT count(*) FROM xapi_statements WHERE status = 'attention'"
WAITING_FOR = """
SELECT statement_id, centre_id, statement FROM xapi_statements
WHERE status = 'attention' AND (statement #>> '{actor,account,name}') = ANY($1::text[])
ORDER BY stored_at, statement_id FOR UPDATE
"""
# The waiting statements whose turn to be tried again has come (never tried first, then the longest
# due), of these reasons; SKIP LOCKED leaves those a request is trying now.
DUE = """
SELECT statement_id, centre_id, statement, code, attempts FROM xapi_statements
WHERE status = 'attention' AND code = ANY($1::text[]) AND (retry_at IS NULL OR retry_at <= now())
ORDER BY retry_at NULLS FIRST, stored_at, statement_id LIMIT $2 FOR UPDATE SKIP LOCKED
"""
# Tried and still waiting: next time after 2^attempts minutes, at most a day.
POSTPONE = """
UPDATE xapi_statements SET attempts = attempts + 1,
       retry_at = now() + least(interval '1 minute' * power(2, least(attempts, 11)), interval '1 day')
WHERE statement_id = ANY($1::uuid[])
"""
SET_OUTCOMES = """
UPDATE xapi_statements x SET status = u.status, code = u.code, reason = u.reason, event_id = u.event_id
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[]) AS u(statement_id, status, code, reason,
                                                                              event_id)
WHERE x.statement_id = u.statement_id
"""


async def insert(conn, rows: list[tuple]) -> None:
    """Rows of (statement_id, centre_id, statement dict, stored_at, verb, status, code, reason, event_id)."""
    await insert_rows(conn, "xapi_statements", COLUMNS, rows, INSERT)


async def existing(conn, ids: list) -> dict:
    """statement_id -> (statement, centre_id), of these ids already kept."""
    return {r["statement_id"]: (r["statement"], r["centre_id"]) for r in await conn.fetch(EXISTING, ids)}


async def get(conn, statement_id) -> dict | None:
    row = await conn.fetchrow(GET, statement_id)
    return None if row is None else dict(row)


async def void(conn, statement_id, by) -> bool:
    return (await conn.execute(VOID, statement_id, by)).split()[-1] == "1"


async def listed(conn, centre_id, *, since=None, until=None, after: tuple | None = None, limit: int,
                 ascending: bool = False, verb: str | None = None, agent: list[dict] | None = None,
                 activity: list[dict] | None = None, registration: dict | None = None) -> list[dict]:
    """A page of statements; agent and activity are the patterns one of which a match contains."""
    filtered = any(f is not None for f in (verb, agent, activity, registration))
    args = [centre_id, since, until, *(after or (None, None)), limit]
    if filtered:
        args += [verb, agent, activity, registration]
    return [dict(r) for r in await conn.fetch(PAGES[filtered, ascending], *args)]


async def attention(conn, centre_id, limit: int) -> list[dict]:
    return [dict(r) for r in await conn.fetch(ATTENTION, centre_id, limit)]


async def waiting_for(conn, account_names: list[str]) -> list[dict]:
    """The statements waiting whose actor's account names one of these (application ids), locked."""
    return [dict(r) for r in await conn.fetch(WAITING_FOR, account_names)]


async def due(conn, codes: list[str], limit: int) -> list[dict]:
    """The waiting statements to try again now, locked (see DUE)."""
    return [dict(r) for r in await conn.fetch(DUE, codes, limit)]


async def postpone(conn, statement_ids: list) -> None:
    if statement_ids:
        await conn.execute(POSTPONE, statement_ids)


async def set_outcomes(conn, rows: list[tuple]) -> None:
    """Rows of (statement_id, status, code, reason, event_id): what became of statements tried again."""
    if rows:
        await conn.execute(SET_OUTCOMES, *[list(c) for c in zip(*rows, strict=True)])


UPSERT_ACCOUNTS = """
INSERT INTO lms_accounts (scope, actor_key, application_id)
SELECT $1, k, a FROM unnest($2::text[], $3::uuid[]) AS u(k, a)
ON CONFLICT (scope, actor_key) DO UPDATE SET application_id = EXCLUDED.application_id
"""
ACCOUNTS = "SELECT actor_key, application_id FROM lms_accounts WHERE scope = $1 AND actor_key = ANY($2::text[])"
WAITING_OF_CENTRE = """
SELECT statement_id, centre_id, statement FROM xapi_statements
WHERE status = 'attention' AND centre_id IS NOT DISTINCT FROM $1 ORDER BY stored_at, statement_id FOR UPDATE
"""


async def map_accounts(conn, centre_id, pairs: list[tuple]) -> None:
    """(actor_key, application_id) pairs of a centre: its LMS accounts and the learners they are."""
    if pairs:
        await conn.execute(UPSERT_ACCOUNTS, _scope(centre_id), [k for k, _ in pairs], [a for _, a in pairs])


async def accounts(conn, centre_id, keys: list[str]) -> dict:
    """actor_key -> application_id, of these keys the centre mapped."""
    if not keys:
        return {}
    return {r["actor_key"]: r["application_id"] for r in await conn.fetch(ACCOUNTS, _scope(centre_id), keys)}


def _scope(centre_id) -> str:
    return str(centre_id) if centre_id is not None else "network"


async def waiting_of_centre(conn, centre_id) -> list[dict]:
    return [dict(r) for r in await conn.fetch(WAITING_OF_CENTRE, centre_id)]


async def count_attention(conn) -> int:
    return await conn.fetchval(COUNT_ATTENTION)
