"""Progress's SQL."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from services.progress.domain import Enrolment, Fact
from shared.contracts import legacy_enrolment_id
from shared.plumbing.db import insert_rows

UPSERT_PROGRAMME = """
INSERT INTO programmes (programme_id, centre_id, duration_months, start_date) VALUES ($1, $2, $3, $4)
ON CONFLICT (programme_id) DO NOTHING
"""
ENROLMENT_COLUMNS = """e.enrolment_id, e.learner_id, e.programme_id, e.application_id, e.session_id,
       e.transferred_from, e.state, e.started_at, e.exited_at, e.last_change_at, e.exit_reason, e.attendance_hours,
       e.dropout_cause, e.last_fact_at"""
LOCK_ENROLMENT = f"SELECT {ENROLMENT_COLUMNS} FROM enrolments e WHERE e.enrolment_id = $1 FOR UPDATE"
# Every enrolment of a batch's learners and programmes locked at once, in the order of the keys
# given (lock_enrolments sorts them), so that concurrent batches cannot deadlock. A lateral lookup
# per key rather than a join: on a table growing faster than its statistics, the planner chose to
# hash-join a full scan of the enrolments for every batch, against an index lookup this way.
LOCK_ENROLMENTS = f"""
SELECT {ENROLMENT_COLUMNS}
FROM unnest($1::uuid[], $2::uuid[]) AS k(learner_id, programme_id)
CROSS JOIN LATERAL (
    SELECT * FROM enrolments e WHERE e.learner_id = k.learner_id AND e.programme_id = k.programme_id
    ORDER BY e.enrolment_id FOR UPDATE
) AS e
"""
# Locked in the order LOCK_ENROLMENTS takes (learner, programme, then enrolment), so that a batch
# of decisions and a batch of facts never wait for each other in a cycle.
LOCK_ENROLMENTS_BY_ID = f"""
SELECT {ENROLMENT_COLUMNS} FROM enrolments e WHERE e.enrolment_id = ANY($1::uuid[])
ORDER BY e.learner_id, e.programme_id, e.enrolment_id FOR UPDATE
"""
INSERT_ENROLMENTS = """
INSERT INTO enrolments (enrolment_id, learner_id, programme_id, application_id, session_id, transferred_from, state,
                        admitted_at, started_at, last_change_at, last_fact_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[],
                     $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
ON CONFLICT (enrolment_id) DO NOTHING
"""
SAVE_ENROLMENTS = """
UPDATE enrolments e SET state = u.state, started_at = u.started_at, exited_at = u.exited_at,
       last_change_at = u.last_change_at, exit_reason = u.exit_reason, attendance_hours = u.attendance_hours,
       dropout_cause = u.dropout_cause, last_fact_at = u.last_fact_at, updated_at = now()
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::text[],
            $7::float8[], $8::text[], $9::timestamptz[])
     AS u(enrolment_id, state, started_at, exited_at, last_change_at, exit_reason, attendance_hours,
          dropout_cause, last_fact_at)
WHERE e.enrolment_id = u.enrolment_id
"""
GET_FACT = """
SELECT event_id, enrolment_id, learner_id, programme_id, fact_type, occurred_at, data, body_hash, voided_at
FROM facts WHERE event_id = $1
"""
GET_FACT_FOR_UPDATE = GET_FACT + " FOR UPDATE"
FACT_HASHES = "SELECT event_id, body_hash, enrolment_id FROM facts WHERE event_id = ANY($1::uuid[])"
FACT_COLUMNS = ["event_id", "enrolment_id", "learner_id", "programme_id", "fact_type", "occurred_at", "data",
                "body_hash"]
INSERT_FACTS = """
INSERT INTO facts (event_id, enrolment_id, learner_id, programme_id, fact_type, occurred_at, data, body_hash)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::timestamptz[], $7::jsonb[],
                     $8::text[])
"""
CENTRES_OF_PROGRAMMES = "SELECT programme_id, centre_id FROM programmes WHERE programme_id = ANY($1::uuid[])"
ACTIVE_FACTS = """
SELECT event_id, fact_type, occurred_at, data FROM facts
WHERE enrolment_id = $1 AND voided_at IS NULL ORDER BY occurred_at, seq
"""
# The active facts of many enrolments at once (a batch's late facts), each enrolment's in date order,
# with the values the state machine reads taken out of `data` by PostgreSQL rather than in Python.
# Looked up per key, like LOCK_ENROLMENTS, so that the facts table is never scanned whole.
ACTIVE_FACTS_OF = """
SELECT k.enrolment_id, f.fact_type, f.occurred_at, coalesce((f.data->>'hours')::float8, 0.0),
       CASE WHEN f.fact_type = 'exited' THEN f.data->>'reason' END, f.data->>'dropout_cause'
FROM unnest($1::uuid[]) AS k(enrolment_id)
CROSS JOIN LATERAL (
    SELECT fact_type, occurred_at, data, seq FROM facts f
    WHERE f.enrolment_id = k.enrolment_id AND f.voided_at IS NULL
) AS f
ORDER BY k.enrolment_id, f.occurred_at, f.seq
"""
VOID_FACT = "UPDATE facts SET voided_at = now() WHERE event_id = $1"
AMEND_FACT = "UPDATE facts SET occurred_at = $2, data = $3 WHERE event_id = $1"
GET_CORRECTION = "SELECT body_hash, result FROM fact_corrections WHERE correction_id = $1"
INSERT_CORRECTION = """
INSERT INTO fact_corrections (correction_id, event_id, action, body_hash, before, after, result)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
SUMMARY = "SELECT state, count(*) AS n FROM enrolments GROUP BY state"
ENROLMENT_VIEW = """
SELECT enrolment_id, learner_id, programme_id, application_id, session_id, transferred_from, state, admitted_at,
       started_at, exited_at, exit_reason, dropout_cause, attendance_hours
FROM enrolments WHERE learner_id = $1 AND programme_id = $2
ORDER BY admitted_at DESC NULLS LAST, started_at DESC NULLS LAST, enrolment_id
"""
ENROLMENT_FACTS = """
SELECT event_id, fact_type AS type, occurred_at, recorded_at, data, voided_at FROM facts
WHERE enrolment_id = $1 ORDER BY occurred_at, seq
"""


@dataclass(frozen=True)
class Identity:
    """Who and what an enrolment is about; its state is the domain's Enrolment."""

    enrolment_id: UUID
    learner_id: UUID
    programme_id: UUID
    application_id: UUID | None = None
    session_id: UUID | None = None
    transferred_from: UUID | None = None


def _to_enrolment(row) -> Enrolment:
    return Enrolment(
        state=row["state"], started_at=row["started_at"], exited_at=row["exited_at"],
        last_change_at=row["last_change_at"], exit_reason=row["exit_reason"],
        attendance_hours=row["attendance_hours"], dropout_cause=row["dropout_cause"],
        last_fact_at=row["last_fact_at"],
    )


def _to_identity(row) -> Identity:
    return Identity(row["enrolment_id"], row["learner_id"], row["programme_id"], row["application_id"],
                    row["session_id"], row["transferred_from"])


async def upsert_programme(conn, programme_id, centre_id, duration_months, start_date) -> None:
    await conn.execute(UPSERT_PROGRAMME, programme_id, centre_id, duration_months, start_date)


async def lock_enrolment(conn, enrolment_id) -> tuple[Identity, Enrolment] | None:
    row = await conn.fetchrow(LOCK_ENROLMENT, enrolment_id)
    return None if row is None else (_to_identity(row), _to_enrolment(row))


# The learner of each enrolment named by its id or its application's (a fact may name either).
LEARNERS_OF = """
SELECT enrolment_id AS named, learner_id FROM enrolments WHERE enrolment_id = ANY($1::uuid[])
UNION ALL
SELECT application_id, learner_id FROM enrolments WHERE application_id = ANY($1::uuid[])
"""


ENROLMENT_NAMED = """
SELECT enrolment_id, learner_id, programme_id FROM enrolments WHERE enrolment_id = $1 OR application_id = $1
ORDER BY enrolment_id = $1 DESC LIMIT 1
"""


async def enrolment_named(conn, named) -> dict | None:
    """(enrolment_id, learner_id, programme_id) of the enrolment with this id or application id."""
    row = await conn.fetchrow(ENROLMENT_NAMED, named)
    return dict(row) if row else None


async def learners_of(conn, ids: list) -> dict:
    """enrolment or application id -> learner_id, for the ids that name an enrolment."""
    if not ids:
        return {}
    return {r["named"]: r["learner_id"] for r in await conn.fetch(LEARNERS_OF, ids)}


async def lock_enrolments(conn, keys: Iterable[tuple]) -> dict[UUID, tuple[Identity, Enrolment]]:
    """Every enrolment of these (learner_id, programme_id) keys, locked in key order: id -> (identity, state)."""
    # UUIDs' own comparisons are Python code; their integers give the same order, four times faster.
    keys = sorted(keys, key=lambda k: (k[0].int, k[1].int))
    if not keys:
        return {}
    rows = await conn.fetch(LOCK_ENROLMENTS, [k[0] for k in keys], [k[1] for k in keys])
    return {r["enrolment_id"]: (_to_identity(r), _to_enrolment(r)) for r in rows}


async def lock_enrolments_of_applications(conn, decided: list[tuple]) -> dict[UUID, tuple[Identity, Enrolment]]:
    """The enrolments these applications opened, locked: application_id -> (identity, state).

    `decided` holds (application_id, learner_id, programme_id, decision). An admission's enrolment
    has the application's id, or, admitted before enrolments had their own, the legacy id of the
    learner and programme: both are looked up by primary key (no index on the application needed).
    Only a later decision (a withdrawal, a no-show) can meet a legacy enrolment: an admission
    consumed again is dropped by the inbox before it gets here."""
    if not decided:
        return {}
    ids = list({a for a, *_ in decided} | {legacy_enrolment_id(learner, programme)
                                          for _, learner, programme, decision in decided if decision != "admitted"})
    wanted = {a for a, *_ in decided}
    rows = await conn.fetch(LOCK_ENROLMENTS_BY_ID, ids)
    return {r["application_id"]: (_to_identity(r), _to_enrolment(r)) for r in rows if r["application_id"] in wanted}


async def insert_enrolments(conn, rows: list[tuple[Identity, Enrolment, object]]) -> None:
    """New enrolments: (identity, state, admitted_at)."""
    if rows:
        await conn.execute(INSERT_ENROLMENTS, *(list(c) for c in zip(*[
            (i.enrolment_id, i.learner_id, i.programme_id, i.application_id, i.session_id, i.transferred_from,
             e.state, admitted_at, e.started_at, e.last_change_at, e.last_fact_at)
            for i, e, admitted_at in rows], strict=True)))


async def save_enrolments(conn, enrolments: dict[UUID, Enrolment]) -> None:
    if not enrolments:
        return
    keys, values = list(enrolments), list(enrolments.values())
    await conn.execute(
        SAVE_ENROLMENTS, keys, [e.state for e in values],
        [e.started_at for e in values], [e.exited_at for e in values], [e.last_change_at for e in values],
        [e.exit_reason for e in values], [e.attendance_hours for e in values], [e.dropout_cause for e in values],
        [e.last_fact_at for e in values],
    )


async def fact_hashes(conn, event_ids: list) -> dict:
    """event_id -> (body_hash, enrolment_id) of the facts among these that exist."""
    if not event_ids:
        return {}
    return {r["event_id"]: (r["body_hash"], r["enrolment_id"]) for r in await conn.fetch(FACT_HASHES, event_ids)}


async def insert_facts(conn, rows: list[tuple]) -> None:
    """Rows of (event_id, enrolment_id, learner_id, programme_id, fact_type, occurred_at, data, body_hash), in
    arrival order."""
    await insert_rows(conn, "facts", FACT_COLUMNS, rows, INSERT_FACTS)


async def centres_of_programmes(conn, programme_ids: list) -> dict:
    return {r["programme_id"]: r["centre_id"] for r in await conn.fetch(CENTRES_OF_PROGRAMMES, programme_ids)}


async def get_fact(conn, event_id, for_update: bool = False) -> dict | None:
    row = await conn.fetchrow(GET_FACT_FOR_UPDATE if for_update else GET_FACT, event_id)
    return dict(row) if row else None


async def active_facts(conn, enrolment_id) -> list[dict]:
    return [dict(r) for r in await conn.fetch(ACTIVE_FACTS, enrolment_id)]


async def active_facts_of(conn, enrolment_ids: list) -> dict[UUID, list[Fact]]:
    """enrolment_id -> its active facts in date order, for every id (empty if none)."""
    found: dict[UUID, list[Fact]] = {key: [] for key in enrolment_ids}
    if enrolment_ids:
        for r in await conn.fetch(ACTIVE_FACTS_OF, enrolment_ids):
            found[r[0]].append(Fact(r[1], r[2], r[3], r[4], r[5]))
    return found


async def void_fact(conn, event_id) -> None:
    await conn.execute(VOID_FACT, event_id)


async def amend_fact(conn, event_id, occurred_at, data: dict) -> None:
    await conn.execute(AMEND_FACT, event_id, occurred_at, data)


async def get_correction(conn, correction_id) -> dict | None:
    row = await conn.fetchrow(GET_CORRECTION, correction_id)
    return dict(row) if row else None


async def insert_correction(conn, correction_id, event_id, action, body_hash, before, after, result) -> None:
    await conn.execute(INSERT_CORRECTION, correction_id, event_id, action, body_hash, before, after, result)


async def summary(conn) -> dict[str, int]:
    return {r["state"]: r["n"] for r in await conn.fetch(SUMMARY)}


async def enrolment_view(conn, learner_id, programme_id, enrolment_id=None) -> dict | None:
    """The enrolment named (else the learner's latest in the programme) with its facts, and her
    other enrolments there."""
    rows = [dict(r) for r in await conn.fetch(ENROLMENT_VIEW, learner_id, programme_id)]
    named = [r for r in rows if enrolment_id in (None, r["enrolment_id"])]
    if not named:
        return None
    view = named[0]
    others = [r for r in rows if r is not view]
    view["facts"] = [dict(r) for r in await conn.fetch(ENROLMENT_FACTS, view["enrolment_id"])]
    view["other_enrolments"] = others
    return view




# Free text a centre may have typed about a learner; codes (exit reasons) are not personal.
ERASE_MILESTONES = """
UPDATE facts SET data = jsonb_set(data, '{milestone}', '"(erased)"')
WHERE learner_id = $1 AND fact_type = 'milestone' AND data->>'milestone' IS DISTINCT FROM '(erased)'
"""
ERASE_INTERRUPTION_REASONS = """
UPDATE facts SET data = jsonb_set(data, '{reason}', '"(erased)"')
WHERE learner_id = $1 AND fact_type = 'interrupted' AND data->>'reason' IS NOT NULL
  AND data->>'reason' <> '(erased)'
"""


# The history of corrections keeps what a fact was and became: its free text goes the same way.
ERASE_CORRECTIONS = """
UPDATE fact_corrections c SET
    before = CASE WHEN c.before #> ARRAY['data', k.field] IS NULL THEN c.before
                  ELSE jsonb_set(c.before, ARRAY['data', k.field], '"(erased)"') END,
    after = CASE WHEN c.after #> ARRAY['data', k.field] IS NULL THEN c.after
                 ELSE jsonb_set(c.after, ARRAY['data', k.field], '"(erased)"') END
FROM facts f, (VALUES ('milestone', 'milestone'), ('interrupted', 'reason')) AS k(fact_type, field)
WHERE f.event_id = c.event_id AND f.learner_id = $1 AND f.fact_type = k.fact_type
"""


async def erase_free_text(conn, learner_id) -> int:
    """The facts whose free text was erased now (0 when it already was); corrections' copies too."""
    changed = 0
    for statement in (ERASE_MILESTONES, ERASE_INTERRUPTION_REASONS):
        changed += int((await conn.execute(statement, learner_id)).split()[-1])
    await conn.execute(ERASE_CORRECTIONS, learner_id)
    return changed


CENTRE_OF_PROGRAMME = "SELECT centre_id FROM programmes WHERE programme_id = $1"
CENTRE_OF_FACT = "SELECT p.centre_id FROM facts f JOIN programmes p USING (programme_id) WHERE f.event_id = $1"


async def centre_of_programme(conn, programme_id):
    return await conn.fetchval(CENTRE_OF_PROGRAMME, programme_id)


async def centre_of_fact(conn, event_id):
    return await conn.fetchval(CENTRE_OF_FACT, event_id)


# A centre's learners as its page shows them: each enrolment's state and hours, latest change first.
CENTRE_ENROLMENTS = """
SELECT e.enrolment_id, e.application_id, e.programme_id, e.state, e.attendance_hours, e.started_at, e.exited_at,
       e.exit_reason, e.last_change_at
FROM enrolments e JOIN programmes p USING (programme_id)
WHERE ($1::uuid IS NULL OR p.centre_id = $1)
ORDER BY e.last_change_at DESC NULLS LAST, e.enrolment_id LIMIT $2
"""


async def centre_enrolments(conn, centre_id, limit: int = 200) -> list[dict]:
    return [dict(r) for r in await conn.fetch(CENTRE_ENROLMENTS, centre_id, limit)]
