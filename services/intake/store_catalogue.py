"""Intake's SQL on the catalogue: centres, programmes and their sessions."""

from __future__ import annotations

import asyncpg

from services.intake.domain import first_session_id

INSERT_CENTRE = """
INSERT INTO centres (centre_id, name, siret, street, postcode, city, region, departement)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT DO NOTHING
RETURNING centre_id
"""
CENTRE_COLUMNS = "centre_id, name, siret, street, postcode, city, region, departement, created_at"
GET_CENTRE = f"SELECT {CENTRE_COLUMNS} FROM centres WHERE centre_id = $1"
FIND_CENTRE_BY_SIRET = f"SELECT {CENTRE_COLUMNS} FROM centres WHERE siret = $1"
LIST_CENTRES = f"""
SELECT {CENTRE_COLUMNS} FROM centres
WHERE ($1::text IS NULL OR region = $1)
ORDER BY name, centre_id LIMIT $2 OFFSET $3
"""
COUNT_CENTRES = "SELECT count(*) FROM centres WHERE ($1::text IS NULL OR region = $1)"

INSERT_PROGRAMME = """
INSERT INTO programmes (programme_id, centre_id, centre_name, title, region, departement, job_family, rncp,
                        duration_months, label_year, capacity, start_date, mode, funding_line)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (programme_id) DO NOTHING
RETURNING programme_id
"""
PROGRAMME_COLUMNS = """programme_id, centre_id, centre_name, title, region, departement, job_family, rncp,
    duration_months, label_year, capacity, start_date, mode, funding_line, created_at"""
GET_PROGRAMME = f"SELECT {PROGRAMME_COLUMNS} FROM programmes WHERE programme_id = $1"
LIST_PROGRAMMES = f"""
SELECT {PROGRAMME_COLUMNS} FROM programmes
WHERE ($1::uuid IS NULL OR centre_id = $1)
ORDER BY start_date, programme_id LIMIT $2 OFFSET $3
"""
COUNT_PROGRAMMES = "SELECT count(*) FROM programmes WHERE ($1::uuid IS NULL OR centre_id = $1)"
KNOWN_PROGRAMMES = "SELECT programme_id FROM programmes WHERE programme_id = ANY($1::uuid[])"
# Programmes created before sessions existed (migration 0002): their first session is missing.
PROGRAMMES_WITHOUT_SESSION = """
SELECT programme_id, start_date, duration_months, capacity, created_at FROM programmes p
WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.programme_id = p.programme_id)
ORDER BY created_at, programme_id
"""

INSERT_SESSION = """
INSERT INTO sessions (session_id, programme_id, start_date, end_date, capacity)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (session_id) DO NOTHING
RETURNING session_id
"""
# The admitted and waitlisted counts are what centre staff watch; they are derived, never stored.
SESSION_COLUMNS = """s.session_id, s.programme_id, s.start_date, s.end_date, s.capacity, s.created_at,
    (SELECT count(*) FROM applications a WHERE a.session_id = s.session_id AND a.status = 'admitted')
        AS admitted,
    (SELECT count(*) FROM applications a WHERE a.session_id = s.session_id AND a.status = 'waitlisted')
        AS waitlisted"""
GET_SESSION = f"SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.session_id = $1"
SESSIONS_PROGRAMMES = "SELECT session_id, programme_id FROM sessions WHERE session_id = ANY($1::uuid[])"
# Locks the sessions of these applications, in session order: two admissions cannot both take a
# session's last place, and concurrent batches of decisions cannot deadlock. Every decision takes
# them before its applications' (store.LOCK_APPLICATIONS). NO KEY UPDATE is enough to serialise the
# decisions of a session, and lets applications be submitted to it meanwhile (their foreign key
# takes a KEY SHARE lock on it), so that a batch of applications and one of decisions cannot deadlock.
LOCK_SESSIONS_OF = """
SELECT session_id, programme_id, capacity, start_date FROM sessions
WHERE session_id IN (SELECT session_id FROM applications WHERE application_id = ANY($1::uuid[]))
ORDER BY session_id FOR NO KEY UPDATE
"""
SESSIONS_FILTER = """
FROM sessions s JOIN programmes p USING (programme_id)
WHERE ($1::uuid IS NULL OR s.programme_id = $1) AND ($2::uuid IS NULL OR p.centre_id = $2)
"""
LIST_SESSIONS = f"""
SELECT {SESSION_COLUMNS} {SESSIONS_FILTER}
ORDER BY s.start_date, s.session_id LIMIT $3 OFFSET $4
"""
COUNT_SESSIONS = f"SELECT count(*) {SESSIONS_FILTER}"


async def insert_centre(conn: asyncpg.Connection, c: dict) -> bool:
    """False when the centre_id or the SIRET is already registered."""
    address = c["address"]
    new = await conn.fetchval(INSERT_CENTRE, c["centre_id"], c["name"], c["siret"], address["street"],
                              address["postcode"], address["city"], c["region"], c["departement"])
    return new is not None


def _centre(row) -> dict | None:
    if row is None:
        return None
    centre = dict(row)
    centre["address"] = {k: centre.pop(k) for k in ("street", "postcode", "city")}
    return centre


async def get_centre(conn, centre_id) -> dict | None:
    return _centre(await conn.fetchrow(GET_CENTRE, centre_id))


async def find_centre_by_siret(conn, siret: str) -> dict | None:
    return _centre(await conn.fetchrow(FIND_CENTRE_BY_SIRET, siret))


async def list_centres(conn, region, limit: int, offset: int) -> tuple[list[dict], int]:
    rows = await conn.fetch(LIST_CENTRES, region, limit, offset)
    return [_centre(r) for r in rows], await conn.fetchval(COUNT_CENTRES, region)


async def insert_programme(conn: asyncpg.Connection, p: dict) -> bool:
    new = await conn.fetchval(
        INSERT_PROGRAMME, p["programme_id"], p["centre_id"], p["centre_name"], p["title"], p["region"],
        p["departement"], p["job_family"], p["rncp"], p["duration_months"], p["label_year"], p["capacity"],
        p["start_date"], p["mode"], p["funding_line"],
    )
    return new is not None


def _programme(row) -> dict | None:
    if row is None:
        return None
    return dict(row) | {"first_session_id": first_session_id(row["programme_id"])}


async def get_programme(conn, programme_id) -> dict | None:
    return _programme(await conn.fetchrow(GET_PROGRAMME, programme_id))


async def list_programmes(conn, centre_id, limit: int, offset: int) -> tuple[list[dict], int]:
    rows = await conn.fetch(LIST_PROGRAMMES, centre_id, limit, offset)
    total = await conn.fetchval(COUNT_PROGRAMMES, centre_id)
    return [_programme(r) for r in rows], total


async def known_programmes(conn, programme_ids: list) -> set:
    """Those of these programmes that exist."""
    if not programme_ids:
        return set()
    return {r["programme_id"] for r in await conn.fetch(KNOWN_PROGRAMMES, programme_ids)}


async def programmes_without_session(conn) -> list[dict]:
    return [dict(r) for r in await conn.fetch(PROGRAMMES_WITHOUT_SESSION)]


async def insert_session(conn, session_id, programme_id, start_date, end_date, capacity: int) -> bool:
    return await conn.fetchval(INSERT_SESSION, session_id, programme_id, start_date, end_date, capacity) is not None


async def get_session(conn, session_id) -> dict | None:
    row = await conn.fetchrow(GET_SESSION, session_id)
    return dict(row) if row else None


async def programmes_of_sessions(conn, session_ids: list) -> dict:
    """session_id -> programme_id, for the sessions that exist."""
    if not session_ids:
        return {}
    return {r["session_id"]: r["programme_id"] for r in await conn.fetch(SESSIONS_PROGRAMMES, session_ids)}


async def lock_sessions_of(conn, application_ids: list) -> dict:
    """session_id -> {session_id, programme_id, capacity, start_date}, for the sessions of these applications,
    locked."""
    if not application_ids:
        return {}
    return {r["session_id"]: dict(r) for r in await conn.fetch(LOCK_SESSIONS_OF, application_ids)}


async def list_sessions(conn, programme_id, centre_id, limit: int, offset: int) -> tuple[list[dict], int]:
    rows = await conn.fetch(LIST_SESSIONS, programme_id, centre_id, limit, offset)
    total = await conn.fetchval(COUNT_SESSIONS, programme_id, centre_id)
    return [dict(r) for r in rows], total


# A change of mode is keyed by its day: the same change posted again changes nothing.
INSERT_MODE = """
INSERT INTO programme_modes (programme_id, effective_on, mode) VALUES ($1, $2, $3)
ON CONFLICT (programme_id, effective_on) DO NOTHING
"""
GET_MODE = "SELECT mode FROM programme_modes WHERE programme_id = $1 AND effective_on = $2"
MODES = "SELECT effective_on, mode FROM programme_modes WHERE programme_id = $1 ORDER BY effective_on"


async def insert_mode(conn, programme_id, effective_on, mode: str) -> bool:
    return (await conn.execute(INSERT_MODE, programme_id, effective_on, mode)).endswith(" 1")


async def mode_on(conn, programme_id, effective_on) -> str | None:
    return await conn.fetchval(GET_MODE, programme_id, effective_on)


async def modes(conn, programme_id) -> list[dict]:
    return [dict(r) for r in await conn.fetch(MODES, programme_id)]


# A centre's sessions as its page shows them: with the programme's title and the places left.
CENTRE_SESSIONS = f"""
SELECT {SESSION_COLUMNS}, p.title
FROM sessions s JOIN programmes p USING (programme_id)
WHERE ($1::uuid IS NULL OR p.centre_id = $1)
ORDER BY s.start_date DESC, p.title, s.session_id LIMIT $2
"""


async def centre_sessions(conn, centre_id, limit: int = 200) -> list[dict]:
    rows = [dict(r) for r in await conn.fetch(CENTRE_SESSIONS, centre_id, limit)]
    for row in rows:
        row["places_left"] = max(row["capacity"] - row["admitted"], 0)
    return rows
