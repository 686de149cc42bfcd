"""Outcomes's SQL: the journey projection, follow-ups, outcomes and the key-figure queries."""

from __future__ import annotations

from datetime import date

from shared.contracts import ApplicationDecidedV2

# A programme is registered once; a later copy (a resync) only fills in what an older event lacked.
UPSERT_PROGRAMME = """
INSERT INTO programmes (programme_id, centre_id, region, job_family, capacity, start_date, funding_line,
                        centre_name, title, departement, rncp, label_year, mode)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (programme_id) DO UPDATE SET
    departement = coalesce(programmes.departement, EXCLUDED.departement),
    rncp = coalesce(programmes.rncp, EXCLUDED.rncp),
    label_year = coalesce(programmes.label_year, EXCLUDED.label_year),
    mode = coalesce(programmes.mode, EXCLUDED.mode)
"""
UPSERT_SUBMISSION = """
INSERT INTO applications (application_id, learner_id, programme_id, submitted_at, gender, education_level,
                          age_band, qpv, zrr, job_seeker, region, referral_source)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (application_id) DO UPDATE SET
    submitted_at = EXCLUDED.submitted_at, gender = EXCLUDED.gender,
    education_level = EXCLUDED.education_level, age_band = EXCLUDED.age_band, qpv = EXCLUDED.qpv,
    zrr = EXCLUDED.zrr, job_seeker = EXCLUDED.job_seeker, region = EXCLUDED.region,
    referral_source = EXCLUDED.referral_source
"""
# The last decision by its own date wins, whatever the order of arrival.
UPSERT_DECISION = """
INSERT INTO applications (application_id, learner_id, programme_id, decision, reason, decided_at, age_band_at_entry)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (application_id) DO UPDATE SET
    decision = EXCLUDED.decision, reason = EXCLUDED.reason, decided_at = EXCLUDED.decided_at,
    age_band_at_entry = coalesce(EXCLUDED.age_band_at_entry, applications.age_band_at_entry)
WHERE applications.decided_at IS NULL OR applications.decided_at <= EXCLUDED.decided_at
"""
MARK_NO_SHOW = """
INSERT INTO applications (application_id, learner_id, programme_id, no_show_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (application_id) DO UPDATE SET no_show_at = EXCLUDED.no_show_at
"""
UPSERT_MODE = """
INSERT INTO programme_modes (programme_id, effective_on, mode) VALUES ($1, $2, $3)
ON CONFLICT (programme_id, effective_on) DO UPDATE SET mode = EXCLUDED.mode
"""
UPSERT_SESSION = """
INSERT INTO sessions (session_id, programme_id, start_date, end_date, capacity) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (session_id) DO UPDATE SET start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date,
                                       capacity = EXCLUDED.capacity
"""
# Enrolments and follow-ups are keyed by the enrolment (one per admission). The first five
# parameters of each enrolment statement are its identity: enrolment, learner, programme,
# application and session (the last two unknown for a v1 event: kept if already known).
_IDENTITY = """INSERT INTO enrolments (enrolment_id, learner_id, programme_id, application_id, session_id"""
_KEEP_IDENTITY = """application_id = coalesce(EXCLUDED.application_id, enrolments.application_id),
    session_id = coalesce(EXCLUDED.session_id, enrolments.session_id)"""
# A correction carries the enrolment as it now stands: replace, never undo.
REPLACE_ENROLMENT = f"""{_IDENTITY}, started_at, exited_at, exit_reason, dropout_cause)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (enrolment_id) DO UPDATE SET started_at = EXCLUDED.started_at, exited_at = EXCLUDED.exited_at,
    exit_reason = EXCLUDED.exit_reason, dropout_cause = EXCLUDED.dropout_cause, {_KEEP_IDENTITY}
"""
UPSERT_START = f"""{_IDENTITY}, transferred_from, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (enrolment_id) DO UPDATE SET started_at = EXCLUDED.started_at,
    transferred_from = coalesce(EXCLUDED.transferred_from, enrolments.transferred_from), {_KEEP_IDENTITY}
"""
UPSERT_EXIT = f"""{_IDENTITY}, exited_at, exit_reason, dropout_cause) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (enrolment_id) DO UPDATE SET exited_at = EXCLUDED.exited_at, exit_reason = EXCLUDED.exit_reason,
    dropout_cause = EXCLUDED.dropout_cause, {_KEEP_IDENTITY}
"""
MOVE_FOLLOWUP = """
INSERT INTO followups (enrolment_id, learner_id, programme_id, exit_date, exit_reason, observation_date,
                       window_start, window_end)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (enrolment_id) DO UPDATE SET exit_date = EXCLUDED.exit_date,
    exit_reason = EXCLUDED.exit_reason, observation_date = EXCLUDED.observation_date,
    window_start = EXCLUDED.window_start, window_end = EXCLUDED.window_end, updated_at = now()
"""
DELETE_FOLLOWUP = "DELETE FROM followups WHERE enrolment_id = $1"
INSERT_FOLLOWUP = """
INSERT INTO followups (enrolment_id, learner_id, programme_id, exit_date, exit_reason, observation_date,
                       window_start, window_end)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (enrolment_id) DO NOTHING
"""
# The state a person sees (mirrors domain.followup_status): closed states are stored, the
# others follow from today's date ($1).
STATUS_SQL = """
CASE WHEN f.status IN ('recorded', 'unreachable', 'refused', 'exempt') THEN f.status
     WHEN $1::date > f.window_end THEN 'overdue'
     WHEN f.status = 'attempted' THEN 'attempted'
     WHEN $1::date < f.window_start THEN 'scheduled'
     ELSE 'due' END"""
FOLLOWUP_VIEW = f"""
SELECT f.followup_id, f.enrolment_id, f.learner_id, f.programme_id, f.exit_date, f.exit_reason,
       f.observation_date, f.window_start, f.window_end, {STATUS_SQL} AS status, f.attempts, f.assigned_to,
       f.closed_reason, p.centre_id, p.centre_name, p.title AS programme_title
FROM followups f LEFT JOIN programmes p USING (programme_id)
"""
GET_FOLLOWUP = FOLLOWUP_VIEW + " WHERE f.followup_id = $2"
LOCK_FOLLOWUP = f"""
SELECT f.followup_id, f.learner_id, f.programme_id, f.exit_date, {STATUS_SQL} AS status FROM followups f
WHERE f.followup_id = $2 FOR UPDATE OF f
"""
FOLLOWUP_OF_ENROLMENT = "SELECT followup_id FROM followups WHERE enrolment_id = $1"
FOLLOWUPS_OF = """
SELECT followup_id, exit_date FROM followups WHERE learner_id = $1 AND programme_id = $2 ORDER BY exit_date DESC
"""
WORKLIST_FILTER = """
WHERE ($2::text[] IS NULL OR v.status = ANY($2)) AND ($3::uuid IS NULL OR v.programme_id = $3)
  AND ($4::uuid IS NULL OR v.centre_id = $4) AND ($5::text IS NULL OR v.assigned_to = $5)
  AND ($6::uuid IS NULL OR v.learner_id = $6) AND ($7::uuid IS NULL OR v.enrolment_id = $7)
"""
# Most urgent first: overdue (oldest window first), then due or attempted, then scheduled.
LIST_FOLLOWUPS = f"""
SELECT * FROM ({FOLLOWUP_VIEW}) v {WORKLIST_FILTER}
ORDER BY CASE v.status WHEN 'overdue' THEN 0 WHEN 'due' THEN 1 WHEN 'attempted' THEN 1
                       WHEN 'scheduled' THEN 2 ELSE 3 END,
         v.window_end, v.learner_id, v.programme_id, v.followup_id
LIMIT $8 OFFSET $9
"""
COUNT_FOLLOWUPS = f"SELECT count(*) FROM ({FOLLOWUP_VIEW}) v {WORKLIST_FILTER}"
SET_FOLLOWUP_STATUS = """
UPDATE followups SET status = $2, closed_reason = $3, updated_at = now() WHERE followup_id = $1
"""
INSERT_ATTEMPT = """
INSERT INTO contact_attempts (learner_id, programme_id, channel, attempted_on, result, note, staff, followup_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
COUNT_ATTEMPT = """
UPDATE followups SET attempts = attempts + 1, status = $2, updated_at = now() WHERE followup_id = $1
"""
ASSIGN = "UPDATE followups SET assigned_to = $2, updated_at = now() WHERE followup_id = $1"
ATTEMPTS = """
SELECT channel, attempted_on, result, note, staff, recorded_at FROM contact_attempts
WHERE followup_id = $1 ORDER BY id
"""
LATEST_OUTCOME_EVENT = "SELECT event_id FROM outcomes WHERE followup_id = $1 ORDER BY id DESC LIMIT 1"
INSERT_OUTCOME = """
INSERT INTO outcomes (event_id, learner_id, programme_id, situation, digital_job, source, observed_on,
                      job_title, late, corrects_event_id, recorded_by, followup_id, situations)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""
MARK_RECORDED = """
UPDATE followups SET status = 'recorded', closed_reason = NULL, updated_at = now() WHERE followup_id = $1
"""
OUTCOME_HISTORY = """
SELECT event_id, situation, situations, digital_job, job_title, source, observed_on, late, corrects_event_id,
       recorded_by, recorded_at
FROM outcomes WHERE followup_id = $1 ORDER BY id
"""
STATS = "SELECT event_type, count(*) AS n FROM processed_events GROUP BY event_type"
FOLLOWUP_COUNT = "SELECT count(*) FROM followups"

# Consumed events a kind at a time: asyncpg's executemany sends every row in one round trip and
# PostgreSQL applies them in order, so it means what the same statements one by one mean.
STARTED_AMONG = """
SELECT enrolment_id FROM enrolments WHERE enrolment_id = ANY($1::uuid[]) AND started_at IS NOT NULL
"""


def _submission_row(event) -> tuple:
    p = event.data.profile
    return (event.data.application_id, event.learner_id, event.programme_id, event.occurred_at, p.gender,
            p.education_level, p.age_band, p.qpv, p.zrr, p.job_seeker, p.region, event.data.referral_source)


async def upsert_submissions(conn, events) -> None:
    if events:
        await conn.executemany(UPSERT_SUBMISSION, [_submission_row(e) for e in events])


async def upsert_decisions(conn, events) -> None:
    if events:
        await conn.executemany(UPSERT_DECISION, [(e.data.application_id, e.learner_id, e.programme_id,
                                                  e.data.decision, e.data.reason, e.occurred_at,
                                                  _age_band_at_entry(e)) for e in events])


def _age_band_at_entry(event) -> str | None:
    return event.data.age_band_at_entry if isinstance(event, ApplicationDecidedV2) else None


async def mark_no_shows(conn, events) -> None:
    if events:
        await conn.executemany(MARK_NO_SHOW, [(e.data.application_id, e.learner_id, e.programme_id,
                                               e.occurred_at) for e in events])


async def upsert_starts(conn, rows: list[tuple]) -> None:
    """Rows of (enrolment_id, learner_id, programme_id, application_id, session_id, transferred_from, started_at)."""
    if rows:
        await conn.executemany(UPSERT_START, rows)


async def started_among(conn, enrolment_ids: list) -> set:
    """The enrolments among these whose training started."""
    if not enrolment_ids:
        return set()
    return {r["enrolment_id"] for r in await conn.fetch(STARTED_AMONG, enrolment_ids)}


async def upsert_exits(conn, rows: list[tuple]) -> None:
    """Rows of (enrolment_id, learner_id, programme_id, application_id, session_id, exited_at, reason,
    dropout_cause)."""
    if rows:
        await conn.executemany(UPSERT_EXIT, rows)


async def insert_followups(conn, rows: list[tuple]) -> None:
    """Rows of (enrolment_id, learner_id, programme_id, reason, dates)."""
    if rows:
        await conn.executemany(INSERT_FOLLOWUP, [(en, lr, pr, d.exit_date, reason, d.observation_date,
                                                  d.window_start, d.window_end) for en, lr, pr, reason, d in rows])


async def upsert_programme(conn, programme_id, d) -> None:
    await conn.execute(UPSERT_PROGRAMME, programme_id, d.centre_id, d.region, d.job_family, d.capacity,
                       d.start_date, d.funding_line, d.centre_name, d.title, d.departement, d.rncp, d.label_year,
                       d.mode)


async def upsert_mode(conn, programme_id, d) -> None:
    await conn.execute(UPSERT_MODE, programme_id, d.effective_on, d.mode)


async def upsert_session(conn, programme_id, d) -> None:
    await conn.execute(UPSERT_SESSION, d.session_id, programme_id, d.start_date, d.end_date, d.capacity)


async def replace_enrolment(conn, identity: tuple, d) -> None:
    """identity: (enrolment_id, learner_id, programme_id, application_id, session_id)."""
    await conn.execute(REPLACE_ENROLMENT, *identity, d.started_at, d.exited_at, d.exit_reason, d.dropout_cause)


async def move_followup(conn, identity: tuple, reason, dates) -> None:
    enrolment_id, learner_id, programme_id = identity[:3]
    await conn.execute(MOVE_FOLLOWUP, enrolment_id, learner_id, programme_id, dates.exit_date, reason,
                       dates.observation_date, dates.window_start, dates.window_end)


async def delete_followup(conn, enrolment_id) -> None:
    await conn.execute(DELETE_FOLLOWUP, enrolment_id)


async def get_followup(conn, today: date, followup_id) -> dict | None:
    row = await conn.fetchrow(GET_FOLLOWUP, today, followup_id)
    return dict(row) if row else None


async def lock_followup(conn, today: date, followup_id) -> dict | None:
    row = await conn.fetchrow(LOCK_FOLLOWUP, today, followup_id)
    return dict(row) if row else None


async def followup_of_enrolment(conn, enrolment_id):
    return await conn.fetchval(FOLLOWUP_OF_ENROLMENT, enrolment_id)


async def followups_of(conn, learner_id, programme_id) -> list:
    """The follow-up ids of a learner in a programme, latest exit first (one per enrolment exited)."""
    return [r["followup_id"] for r in await conn.fetch(FOLLOWUPS_OF, learner_id, programme_id)]


async def list_followups(conn, today, statuses, programme_id, centre_id, staff, limit, offset, learner_id=None,
                         enrolment_id=None):
    args = (today, statuses, programme_id, centre_id, staff, learner_id, enrolment_id)
    rows = await conn.fetch(LIST_FOLLOWUPS, *args, limit, offset)
    total = await conn.fetchval(COUNT_FOLLOWUPS, *args)
    return [dict(r) for r in rows], total


async def insert_outcome(conn, followup_id, event_id, learner_id, programme_id, o, late: bool, corrects,
                         staff) -> None:
    await conn.execute(INSERT_OUTCOME, event_id, learner_id, programme_id, o.situation, o.digital_job,
                       o.source, o.observed_on, o.job_title, late, corrects, staff, followup_id, o.situations)
    await conn.execute(MARK_RECORDED, followup_id)


async def latest_outcome_event(conn, followup_id):
    return await conn.fetchval(LATEST_OUTCOME_EVENT, followup_id)


async def insert_attempt(conn, followup_id, learner_id, programme_id, a, staff, new_status: str) -> None:
    await conn.execute(INSERT_ATTEMPT, learner_id, programme_id, a.channel, a.attempted_on, a.result, a.note, staff,
                       followup_id)
    await conn.execute(COUNT_ATTEMPT, followup_id, new_status)


async def set_followup_status(conn, followup_id, status: str, reason: str | None) -> None:
    await conn.execute(SET_FOLLOWUP_STATUS, followup_id, status, reason)


async def assign(conn, followup_id, staff: str | None) -> None:
    await conn.execute(ASSIGN, followup_id, staff)


async def attempts(conn, followup_id) -> list[dict]:
    return [dict(r) for r in await conn.fetch(ATTEMPTS, followup_id)]


async def outcome_history(conn, followup_id) -> list[dict]:
    return [dict(r) for r in await conn.fetch(OUTCOME_HISTORY, followup_id)]


async def stats(conn) -> dict:
    events = {r["event_type"]: r["n"] for r in await conn.fetch(STATS)}
    return {"events_applied": events, "followups": await conn.fetchval(FOLLOWUP_COUNT)}


FOLLOWUPS_BY_STATUS = f"SELECT status, count(*) AS n FROM ({FOLLOWUP_VIEW}) v GROUP BY status"


async def followups_by_status(conn, today: date) -> dict[str, int]:
    return {r["status"]: r["n"] for r in await conn.fetch(FOLLOWUPS_BY_STATUS, today)}


ERASE_ATTEMPT_NOTES = "UPDATE contact_attempts SET note = NULL WHERE learner_id = $1 AND note IS NOT NULL"
ERASE_JOB_TITLES = "UPDATE outcomes SET job_title = NULL WHERE learner_id = $1 AND job_title IS NOT NULL"


async def erase_free_text(conn, learner_id) -> int:
    """Notes and job titles could name a person or an employer: they go; the situation codes stay.
    Returns the rows changed now (0 when they already were erased)."""
    changed = 0
    for statement in (ERASE_ATTEMPT_NOTES, ERASE_JOB_TITLES):
        changed += int((await conn.execute(statement, learner_id)).split()[-1])
    return changed
