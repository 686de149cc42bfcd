"""Intake's SQL on candidates and applications (the catalogue's is in store_catalogue.py)."""

from __future__ import annotations

# Upsert on the e-mail address: the same person applying again, to any centre, keeps one
# learner_id (so that the figures count people) and the first birth year. A candidate holds only
# what matching needs: names and phone belong to each application (migration 0009). Each e-mail
# at most once (ON CONFLICT DO UPDATE cannot touch a row twice in one statement), in e-mail order
# so that concurrent batches lock rows in one order.
UPSERT_CANDIDATES = """
INSERT INTO candidates (learner_id, email, first_name, last_name, phone, birth_year)
SELECT learner_id, email, '', '', NULL, birth_year FROM unnest($1::uuid[], $2::text[], $3::integer[])
     AS u(learner_id, email, birth_year)
ORDER BY email
ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
RETURNING email, learner_id
"""
# No personal data here: the learner is a pseudonymous id, the candidate's details are elsewhere.
APPLICATION_COLUMNS = """application_id, learner_id, programme_id, session_id, status, reason, submitted_at,
    decided_at, recorded_at, started_at"""
GET_APPLICATION = f"SELECT {APPLICATION_COLUMNS} FROM applications WHERE application_id = $1"
# Each (learner_id, session_id) at most once, in key order (the same lock order in every batch).
INSERT_APPLICATIONS = f"""
INSERT INTO applications (application_id, learner_id, programme_id, session_id, status, gender,
                          education_level, age_band, qpv, zrr, job_seeker, region, submitted_at,
                          first_name, last_name, email, phone, referral_source)
SELECT application_id, learner_id, programme_id, session_id, 'submitted', gender, education_level, age_band,
       qpv, zrr, job_seeker, region, submitted_at, first_name, last_name, email, phone, referral_source
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::boolean[],
            $9::boolean[], $10::boolean[], $11::text[], $12::timestamptz[], $13::text[], $14::text[],
            $15::text[], $16::text[], $17::text[])
     AS u(application_id, learner_id, programme_id, session_id, gender, education_level, age_band, qpv, zrr,
          job_seeker, region, submitted_at, first_name, last_name, email, phone, referral_source)
ORDER BY learner_id, session_id
ON CONFLICT (learner_id, session_id) DO NOTHING
RETURNING {APPLICATION_COLUMNS}
"""
FIND_APPLICATIONS = f"""
SELECT {APPLICATION_COLUMNS} FROM applications
JOIN unnest($1::uuid[], $2::uuid[]) AS k(learner_id, session_id) USING (learner_id, session_id)
"""
# Every decision of a session holds the session's lock first (store_catalogue.LOCK_SESSIONS_OF):
# these rows are then locked in id order, the same in every batch.
LOCK_APPLICATIONS = f"""
SELECT {APPLICATION_COLUMNS} FROM applications WHERE application_id = ANY($1::uuid[])
ORDER BY application_id FOR UPDATE
"""
COUNT_ADMITTED = """
SELECT session_id, count(*) AS n FROM applications
WHERE session_id = ANY($1::uuid[]) AND status = 'admitted'
GROUP BY session_id
"""
# Read under the sessions' locks, which every decision takes: nobody else can change them meanwhile.
WAITLISTED = f"""
SELECT {APPLICATION_COLUMNS} FROM applications WHERE session_id = ANY($1::uuid[]) AND status = 'waitlisted'
"""
UPDATE_STATUSES = """
UPDATE applications a SET status = u.status, reason = u.reason, decided_at = u.decided_at
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS u(application_id, status, reason, decided_at)
WHERE a.application_id = u.application_id
"""
# In the order given: an application's transitions are listed by id.
INSERT_TRANSITIONS = """
INSERT INTO application_transitions (application_id, status, reason, occurred_at, actor)
SELECT application_id, status, reason, occurred_at, actor
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])
     WITH ORDINALITY AS u(application_id, status, reason, occurred_at, actor, n)
ORDER BY n
"""
INSERT_SUBMISSIONS = """
INSERT INTO application_transitions (application_id, status, reason, occurred_at, actor)
SELECT application_id, 'submitted', NULL, occurred_at, $3
FROM unnest($1::uuid[], $2::timestamptz[]) AS u(application_id, occurred_at)
"""
LIST_TRANSITIONS = """
SELECT status, reason, occurred_at, recorded_at, actor FROM application_transitions
WHERE application_id = $1 ORDER BY id
"""
# Submission dates are calendar days in France: from the first day's midnight in Paris to the
# midnight after the last day.
APPLICATIONS_FILTER = """
FROM applications
WHERE ($1::uuid IS NULL OR session_id = $1)
  AND ($2::uuid IS NULL OR programme_id = $2)
  AND ($3::uuid IS NULL OR programme_id IN (SELECT programme_id FROM programmes WHERE centre_id = $3))
  AND ($4::text IS NULL OR status = $4)
  AND ($5::date IS NULL OR submitted_at >= ($5::date::timestamp AT TIME ZONE 'Europe/Paris'))
  AND ($6::date IS NULL OR submitted_at < (($6::date + 1)::timestamp AT TIME ZONE 'Europe/Paris'))
"""
LIST_APPLICATIONS = f"""
SELECT {APPLICATION_COLUMNS} {APPLICATIONS_FILTER}
ORDER BY submitted_at, application_id LIMIT $7 OFFSET $8
"""
COUNT_APPLICATIONS = f"SELECT count(*) {APPLICATIONS_FILTER}"
# Applications recorded before sessions existed go to their programme's first session.
SET_MISSING_SESSIONS = """
UPDATE applications a SET session_id = u.session_id
FROM unnest($1::uuid[], $2::uuid[]) AS u(programme_id, session_id)
WHERE a.programme_id = u.programme_id AND a.session_id IS NULL
"""
# Contact details are those the application recorded. Follow-up staff read them only for a
# follow-up still open: an exit of the enrolment not followed by the closure of its follow-up
# (outcomes closes one per learner and programme; a later exit, a re-entry's, opens another).
CONTACT_COLUMNS = "a.learner_id, a.application_id, a.first_name, a.last_name, a.email, a.phone"
OPEN_FOLLOWUP_CONTACT = f"""
SELECT {CONTACT_COLUMNS}, x.enrolment_id
FROM enrolment_exits x
JOIN enrolment_applications e USING (enrolment_id)
JOIN applications a ON a.application_id = e.application_id
LEFT JOIN followup_closures c ON c.learner_id = x.learner_id AND c.programme_id = x.programme_id
WHERE x.learner_id = $1 AND ($2::uuid IS NULL OR x.enrolment_id = $2) AND a.contact_purged_at IS NULL
  AND (c.closed_on IS NULL OR c.closed_on < (x.exited_at AT TIME ZONE 'Europe/Paris')::date)
ORDER BY x.exited_at DESC LIMIT 1
"""
# An administrator (answering a person's request for her data) reads any kept copy: the one of
# the enrolment asked for, else the latest application's.
ANY_CONTACT = f"""
SELECT {CONTACT_COLUMNS}, e.enrolment_id
FROM applications a LEFT JOIN enrolment_applications e ON e.application_id = a.application_id
WHERE a.learner_id = $1 AND ($2::uuid IS NULL OR e.enrolment_id = $2) AND a.contact_purged_at IS NULL
  AND a.email IS NOT NULL
ORDER BY a.submitted_at DESC LIMIT 1
"""
# The e-mail column is unique and required: an erased one becomes a meaningless placeholder.
ERASE_CANDIDATE = """
UPDATE candidates SET first_name = '', last_name = '', email = 'erased-' || learner_id || '@erased.invalid',
       phone = NULL, birth_year = 0, erased_at = now()
WHERE learner_id = $1 AND (erased_at IS NULL OR email NOT LIKE 'erased-%')
RETURNING learner_id
"""
ERASE_APPLICATION_CONTACTS = """
UPDATE applications SET first_name = NULL, last_name = NULL, email = NULL, phone = NULL,
       contact_purged_at = now()
WHERE learner_id = $1 AND (contact_purged_at IS NULL OR email IS NOT NULL)
"""
CANDIDATE_EXISTS = "SELECT erased_at FROM candidates WHERE learner_id = $1"
COUNT_BY_STATUS = "SELECT status, count(*) AS n FROM applications GROUP BY status"


async def upsert_candidates(conn, candidates: list[dict]) -> dict:
    """email -> learner_id, for candidates with distinct e-mails; a known e-mail keeps its learner."""
    if not candidates:
        return {}
    columns = [[c[k] for c in candidates] for k in ("email", "birth_year")]
    rows = await conn.fetch(UPSERT_CANDIDATES, [c["learner_id"] for c in candidates], *columns)
    return {r["email"]: r["learner_id"] for r in rows}


APPLICATION_ROW = ("application_id", "learner_id", "programme_id", "session_id", "gender", "education_level",
                   "age_band", "qpv", "zrr", "job_seeker", "region", "submitted_at", "first_name", "last_name",
                   "email", "phone", "referral_source")


async def insert_applications(conn, applications: list[dict]) -> list[dict]:
    """The applications inserted, as stored; one whose (learner_id, session_id) is taken is skipped.

    Each dict has the keys of APPLICATION_ROW, each (learner_id, session_id) at most once.
    """
    if not applications:
        return []
    columns = [[a[k] for a in applications] for k in APPLICATION_ROW]
    return [dict(r) for r in await conn.fetch(INSERT_APPLICATIONS, *columns)]


async def find_applications(conn, keys: list[tuple]) -> list[dict]:
    """The applications of these (learner_id, session_id) keys that exist."""
    if not keys:
        return []
    rows = await conn.fetch(FIND_APPLICATIONS, [k[0] for k in keys], [k[1] for k in keys])
    return [dict(r) for r in rows]


async def get_application(conn, application_id) -> dict | None:
    row = await conn.fetchrow(GET_APPLICATION, application_id)
    return dict(row) if row else None


async def lock_applications(conn, application_ids: list) -> dict:
    """application_id -> the application, for those that exist, locked (take the sessions' locks first)."""
    if not application_ids:
        return {}
    return {r["application_id"]: dict(r) for r in await conn.fetch(LOCK_APPLICATIONS, application_ids)}


async def admitted_counts(conn, session_ids: list) -> dict:
    """session_id -> the number of applications admitted to it, for these sessions (0 is left out)."""
    if not session_ids:
        return {}
    return {r["session_id"]: r["n"] for r in await conn.fetch(COUNT_ADMITTED, session_ids)}


async def waitlisted(conn, session_ids: list) -> list[dict]:
    """The applications waitlisted for these sessions, in no particular order."""
    if not session_ids:
        return []
    return [dict(r) for r in await conn.fetch(WAITLISTED, session_ids)]


async def update_statuses(conn, applications: list[dict]) -> None:
    """Store each application's status, reason and decided_at; each application at most once."""
    if applications:
        columns = [[a[k] for a in applications] for k in ("application_id", "status", "reason", "decided_at")]
        await conn.execute(UPDATE_STATUSES, *columns)


async def record_transitions(conn, transitions: list[tuple]) -> None:
    """Rows of (application_id, status, reason, occurred_at, actor), recorded in this order."""
    if transitions:
        await conn.execute(INSERT_TRANSITIONS, *[list(c) for c in zip(*transitions, strict=True)])


async def record_submissions(conn, submissions: list[tuple], actor: str) -> None:
    """Rows of (application_id, submitted_at): who submitted them, and when."""
    if submissions:
        await conn.execute(INSERT_SUBMISSIONS, [s[0] for s in submissions], [s[1] for s in submissions], actor)


async def list_transitions(conn, application_id) -> list[dict]:
    return [dict(r) for r in await conn.fetch(LIST_TRANSITIONS, application_id)]


async def list_applications(conn, f: dict) -> tuple[list[dict], int]:
    where = (f["session_id"], f["programme_id"], f["centre_id"], f["status"], f["submitted_from"],
             f["submitted_to"])
    rows = await conn.fetch(LIST_APPLICATIONS, *where, f["limit"], f["offset"])
    total = await conn.fetchval(COUNT_APPLICATIONS, *where)
    return [dict(r) for r in rows], total


async def set_missing_sessions(conn, programme_ids: list, session_ids: list) -> None:
    await conn.execute(SET_MISSING_SESSIONS, programme_ids, session_ids)


async def erase_candidate(conn, learner_id) -> str:
    """'erased' (something was removed: the first time, or again after a restore), 'already' or
    'unknown'."""
    candidate = await conn.fetchval(ERASE_CANDIDATE, learner_id)
    applications = int((await conn.execute(ERASE_APPLICATION_CONTACTS, learner_id)).split()[-1])
    if candidate is None and await conn.fetchrow(CANDIDATE_EXISTS, learner_id) is None:
        return "unknown"
    return "erased" if candidate is not None or applications else "already"


async def get_contact(conn, learner_id, enrolment_id=None, open_followup_only: bool = True) -> dict | None:
    """The contact details of the learner's open follow-up (or, for an administrator, any kept copy)."""
    row = await conn.fetchrow(OPEN_FOLLOWUP_CONTACT if open_followup_only else ANY_CONTACT, learner_id, enrolment_id)
    return dict(row) if row else None


LOG_CONTACT_READ = "INSERT INTO contact_reads (learner_id, key_id) VALUES ($1, $2)"
CONTACT_READS = """
SELECT r.learner_id, r.key_id, k.name AS key_name, k.role, r.read_at
FROM contact_reads r LEFT JOIN api_keys k USING (key_id)
WHERE ($1::uuid IS NULL OR r.learner_id = $1) AND ($2::timestamptz IS NULL OR r.read_at >= $2)
ORDER BY r.read_at DESC, r.id DESC LIMIT $3
"""


async def log_contact_read(conn, learner_id, key_id) -> None:
    await conn.execute(LOG_CONTACT_READ, learner_id, key_id)


async def contact_reads(conn, learner_id, since, limit: int) -> list[dict]:
    return [dict(r) for r in await conn.fetch(CONTACT_READS, learner_id, since, limit)]


async def count_by_status(conn) -> dict[str, int]:
    return {r["status"]: r["n"] for r in await conn.fetch(COUNT_BY_STATUS)}


CENTRE_OF_PROGRAMME = "SELECT centre_id FROM programmes WHERE programme_id = $1"
CENTRES_OF_PROGRAMMES = "SELECT programme_id, centre_id FROM programmes WHERE programme_id = ANY($1::uuid[])"
CENTRE_OF_APPLICATION = """
SELECT p.centre_id FROM applications a JOIN programmes p USING (programme_id) WHERE a.application_id = $1
"""
CENTRES_OF_APPLICATIONS = """
SELECT a.application_id, p.centre_id FROM applications a JOIN programmes p USING (programme_id)
WHERE a.application_id = ANY($1::uuid[])
"""


async def centre_of_programme(conn, programme_id):
    return await conn.fetchval(CENTRE_OF_PROGRAMME, programme_id)


async def centres_of_programmes(conn, programme_ids: list) -> dict:
    """programme_id -> centre_id, for the programmes that exist."""
    if not programme_ids:
        return {}
    return {r["programme_id"]: r["centre_id"] for r in await conn.fetch(CENTRES_OF_PROGRAMMES, programme_ids)}


async def centre_of_application(conn, application_id):
    return await conn.fetchval(CENTRE_OF_APPLICATION, application_id)


async def centres_of_applications(conn, application_ids: list) -> dict:
    """application_id -> the centre_id of its programme, for the applications that exist."""
    if not application_ids:
        return {}
    rows = await conn.fetch(CENTRES_OF_APPLICATIONS, application_ids)
    return {r["application_id"]: r["centre_id"] for r in rows}


UPSERT_CLOSURE = """
INSERT INTO followup_closures (learner_id, programme_id, status, closed_on) VALUES ($1, $2, $3, $4)
ON CONFLICT (learner_id, programme_id) DO UPDATE SET status = EXCLUDED.status, closed_on = EXCLUDED.closed_on
"""
# Retention counts each application's own activity (security review, finding 3): a centre applying
# again for a person keeps its own copy, never another centre's. An application's contact details
# go once its follow-up closed before the cutoff, or once it ended without a training before the
# cutoff; the candidate's e-mail and birth year go with the last of her applications' copies. The
# pseudonymous facts stay.
PURGE_APPLICATION_CONTACTS = """
UPDATE applications a SET first_name = NULL, last_name = NULL, email = NULL, phone = NULL, contact_purged_at = now()
WHERE a.contact_purged_at IS NULL AND a.submitted_at < $1
  AND (EXISTS (SELECT 1 FROM followup_closures f
               WHERE f.learner_id = a.learner_id AND f.programme_id = a.programme_id AND f.closed_on < $1
                 AND a.status = 'admitted')
       OR (a.status IN ('rejected', 'withdrawn', 'no_show') AND a.decided_at < $1))
"""
PURGE_CANDIDATES = """
UPDATE candidates c SET first_name = '', last_name = '', email = 'purged-' || c.learner_id || '@erased.invalid',
       phone = NULL, birth_year = 0, erased_at = now()
WHERE c.erased_at IS NULL
  AND EXISTS (SELECT 1 FROM applications a WHERE a.learner_id = c.learner_id)
  AND NOT EXISTS (SELECT 1 FROM applications a WHERE a.learner_id = c.learner_id AND a.contact_purged_at IS NULL)
"""


# Training events (v2) name the admitted application they follow; a v1 event only the learner and
# the programme, where the admission is the one admitted. A correction carries the start as it now
# stands (None: the start was voided).
SET_STARTED = "UPDATE applications SET started_at = $2 WHERE application_id = $1"
SET_STARTED_V1 = """
UPDATE applications SET started_at = $3 WHERE learner_id = $1 AND programme_id = $2 AND status = 'admitted'
"""


async def set_started(conn, rows: list[tuple], rows_v1: list[tuple]) -> None:
    """Rows of (application_id, started_at or None), and of (learner_id, programme_id, started_at or None)."""
    if rows:
        await conn.executemany(SET_STARTED, rows)
    if rows_v1:
        await conn.executemany(SET_STARTED_V1, rows_v1)


# An erased candidate keeps no birth year (0): no age band can be computed for her.
BIRTH_YEARS = "SELECT learner_id, birth_year FROM candidates WHERE learner_id = ANY($1::uuid[]) AND birth_year > 0"


async def birth_years(conn, learner_ids: list) -> dict:
    if not learner_ids:
        return {}
    return {r["learner_id"]: r["birth_year"] for r in await conn.fetch(BIRTH_YEARS, learner_ids)}


async def record_closure(conn, learner_id, programme_id, status, closed_on) -> None:
    await conn.execute(UPSERT_CLOSURE, learner_id, programme_id, status, closed_on)


async def purge_contacts(conn, cutoff) -> int:
    """The applications whose contact details were purged now."""
    purged = int((await conn.execute(PURGE_APPLICATION_CONTACTS, cutoff)).split()[-1])
    await conn.execute(PURGE_CANDIDATES)
    return purged


# Which application an enrolment follows: its own (v2 events name it), the admitted one of the
# learner in the programme (v1), or, for an enrolment a transfer opened, that of the one it left.
LINK_ENROLMENTS = """
INSERT INTO enrolment_applications (enrolment_id, application_id)
SELECT enrolment_id, application_id FROM unnest($1::uuid[], $2::uuid[]) AS u(enrolment_id, application_id)
ON CONFLICT (enrolment_id) DO NOTHING
"""
LINK_ENROLMENT_V1 = """
INSERT INTO enrolment_applications (enrolment_id, application_id)
SELECT $1, application_id FROM applications WHERE learner_id = $2 AND programme_id = $3 AND status = 'admitted'
ORDER BY submitted_at DESC LIMIT 1
ON CONFLICT (enrolment_id) DO NOTHING
"""
LINK_TRANSFERRED = """
INSERT INTO enrolment_applications (enrolment_id, application_id)
SELECT $1, application_id FROM enrolment_applications WHERE enrolment_id = $2
ON CONFLICT (enrolment_id) DO NOTHING
"""
UPSERT_EXIT = """
INSERT INTO enrolment_exits (enrolment_id, learner_id, programme_id, exited_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (enrolment_id) DO UPDATE SET exited_at = EXCLUDED.exited_at
"""
DELETE_EXIT = "DELETE FROM enrolment_exits WHERE enrolment_id = $1"


async def link_enrolments(conn, links: list[tuple], links_v1: list[tuple], transfers: list[tuple]) -> None:
    """(enrolment_id, application_id); (enrolment_id, learner_id, programme_id) of v1 events;
    (enrolment_id, the enrolment it continues) of transfers, applied after the others."""
    if links:
        await conn.execute(LINK_ENROLMENTS, [e for e, _ in links], [a for _, a in links])
    if links_v1:
        await conn.executemany(LINK_ENROLMENT_V1, links_v1)
    if transfers:
        await conn.executemany(LINK_TRANSFERRED, transfers)


async def set_exits(conn, exits: list[tuple]) -> None:
    """(enrolment_id, learner_id, programme_id, exited_at or None), in the order consumed: an exit
    that opens a follow-up, or None where a correction says the enrolment has not left (or left by
    a transfer, which opens none)."""
    for enrolment_id, learner_id, programme_id, exited_at in exits:
        if exited_at is None:
            await conn.execute(DELETE_EXIT, enrolment_id)
        else:
            await conn.execute(UPSERT_EXIT, enrolment_id, learner_id, programme_id, exited_at)
