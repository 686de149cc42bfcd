"""Outcomes's key-figure queries: every count of the indicators, per programme, for one year.

$1 and $2 are the year's bounds: moments (midnight in Paris) for the timestamps, French calendar
days for the date columns (exit dates are stored as French days already). Each count
uses the date of its own fact; the follow-up counts use the exit cohort (exit dated in the year)
or, on request, the entry cohort (start dated in the year).
"""

from __future__ import annotations

import re
from datetime import date, datetime

from services.outcomes.indicators import NESTED
from shared.contracts.calendar import year_bounds

APPLICATIONS = """
SELECT programme_id,
  count(*) FILTER (WHERE submitted_at >= $1 AND submitted_at < $2) AS applications_submitted,
  count(*) FILTER (WHERE decision = 'admitted' AND decided_at >= $1 AND decided_at < $2) AS applications_admitted,
  count(*) FILTER (WHERE decision = 'waitlisted' AND decided_at >= $1 AND decided_at < $2)
      AS applications_waitlisted,
  count(*) FILTER (WHERE decision = 'rejected' AND decided_at >= $1 AND decided_at < $2) AS applications_rejected,
  count(*) FILTER (WHERE decision = 'withdrawn' AND decided_at >= $1 AND decided_at < $2)
      AS applications_withdrawn
FROM applications GROUP BY programme_id
"""
# Applications submitted and admitted in the year by who referred the candidate.
REFERRALS = """
SELECT programme_id, coalesce(referral_source, 'not_stated') AS source,
  count(*) FILTER (WHERE submitted_at >= $1 AND submitted_at < $2) AS submitted,
  count(*) FILTER (WHERE decision = 'admitted' AND decided_at >= $1 AND decided_at < $2) AS admitted
FROM applications GROUP BY programme_id, 2
"""
# Places of the sessions starting in the year; a programme known without its sessions yet
# counts its own start date and capacity (which are those of its first session).
PLACES = """
SELECT programme_id, sum(capacity) AS places_offered FROM (
  SELECT programme_id, start_date, capacity FROM sessions
  UNION ALL
  SELECT p.programme_id, p.start_date, p.capacity FROM programmes p
  WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.programme_id = p.programme_id)) x
WHERE start_date >= $1 AND start_date < $2
GROUP BY programme_id
"""
# Learners are people: every enrolment trained or in training during the year (started before
# its end, not exited before its start), for the indicators to count each person once per group.
# A start in the year is one of them: an exit is never before its start.
LEARNER_ENROLMENTS = """
SELECT learner_id, programme_id, started_at >= $1 AS started_in_year FROM enrolments
WHERE started_at IS NOT NULL AND started_at < $2 AND (exited_at IS NULL OR exited_at >= $1)
"""
# A person's attributes are those of her latest admission decided before the year's end (any
# later one otherwise), with the age band at entry when intake sent it.
PROFILES = """
SELECT DISTINCT ON (learner_id) learner_id, gender, education_level, qpv, zrr, job_seeker,
       coalesce(age_band_at_entry, age_band) AS age_band
FROM applications WHERE learner_id = ANY($1::uuid[]) AND decision = 'admitted'
ORDER BY learner_id, (decided_at < $2) DESC, decided_at DESC NULLS LAST
"""
EXITS = """
SELECT programme_id, exit_reason, count(*) AS n FROM enrolments
WHERE exited_at >= $1 AND exited_at < $2 AND exit_reason <> 'transferred'
GROUP BY programme_id, exit_reason
"""
COHORT = {
    "exit": "f.exit_date >= $1 AND f.exit_date < $2",
    "entry": """EXISTS (SELECT 1 FROM enrolments e WHERE e.enrolment_id = f.enrolment_id
                AND e.started_at >= $1 AND e.started_at < $2)""",
}
FOLLOWUPS = """
SELECT f.programme_id, count(*) FILTER (WHERE f.status <> 'exempt') AS followups_in_scope,
       count(*) FILTER (WHERE f.status = 'exempt') AS followups_exempt
FROM followups f WHERE {cohort} GROUP BY f.programme_id
"""
# The latest outcome of each follow-up counts: a correction replaces, never adds.
OUTCOMES = """
SELECT f.programme_id, o.situation, o.digital_job, count(*) AS n
FROM followups f
JOIN LATERAL (SELECT situation, digital_job FROM outcomes o
              WHERE o.followup_id = f.followup_id ORDER BY o.id DESC LIMIT 1) o ON true
WHERE {cohort} AND f.status <> 'exempt'
GROUP BY f.programme_id, o.situation, o.digital_job
"""
# Each programme with the attributes the figures are broken down by; its delivery mode is the one
# in force on the last day of the year (its latest change by then, else the mode it was registered with).
PROGRAMMES = """
SELECT p.programme_id, p.centre_id, p.centre_name, p.title, p.region, p.job_family, p.departement, p.rncp,
       p.label_year, p.funding_line,
       coalesce((SELECT m.mode FROM programme_modes m WHERE m.programme_id = p.programme_id AND m.effective_on < $1
                 ORDER BY m.effective_on DESC LIMIT 1), p.mode) AS mode
FROM programmes p
"""


# The tables the figures read, rebuilt as they stood at a moment from projection_history
# (migration 0013): each row's latest version recorded by then, a deleted one left out.
HISTORY_TABLES = ("applications", "sessions", "programmes", "enrolments", "followups", "outcomes", "programme_modes")
AS_OF_TABLE = """{table} AS (
  SELECT r.* FROM (SELECT DISTINCT ON (key) row FROM projection_history
                   WHERE table_name = '{table}' AND recorded_at <= ${n} ORDER BY key, id DESC) h,
       jsonb_populate_record(NULL::{table}, h.row) r
  WHERE h.row IS NOT NULL)"""
HISTORY_START = "SELECT started_at FROM projection_history_start"


def as_of(query: str) -> str:
    """The query reading its tables as they stood at the moment given as one more parameter: each
    table it names is shadowed by a common table expression of the same name."""
    n = max((int(k) for k in re.findall(r"\$(\d+)", query)), default=0) + 1
    tables = [t for t in HISTORY_TABLES if re.search(rf"\b{t}\b", query)]
    ctes = ", ".join(AS_OF_TABLE.format(table=t, n=n) for t in tables)
    body = query.strip()
    if body.upper().startswith("WITH "):
        return f"WITH {ctes}, {body[5:]}"
    return f"WITH {ctes} {body}"


async def history_start(conn) -> datetime:
    return await conn.fetchval(HISTORY_START)


class Reader:
    """Runs the figures' queries on the tables as they are, or as they stood at `moment`."""

    def __init__(self, conn, moment: datetime | None = None) -> None:
        self.conn, self.moment = conn, moment

    async def fetch(self, query: str, *args):
        if self.moment is None:
            return await self.conn.fetch(query, *args)
        return await self.conn.fetch(as_of(query), *args, self.moment)


async def counts_per_programme(conn, year: int, cohort: str = "exit",
                               moment: datetime | None = None) -> tuple[dict, list, dict]:
    """{programme_id: (raw counts, {(situation, digital_job): n})} for one year, with the learners'
    enrolments [(learner_id, programme_id, started_in_year)] and their profiles {learner_id: dict},
    from which the indicators count people; as known at `moment` when given."""
    conn = Reader(conn, moment)
    start, end = year_bounds(year)
    days = date(year, 1, 1), date(year + 1, 1, 1)
    cohort_bounds = days if cohort == "exit" else (start, end)
    where = COHORT[cohort]
    per: dict = {}

    def slot(programme_id):
        return per.setdefault(programme_id, ({key: {} for key in NESTED}, {}))

    for row in await conn.fetch(APPLICATIONS, start, end):
        slot(row["programme_id"])[0].update({k: v for k, v in row.items() if k != "programme_id"})
    for row in await conn.fetch(REFERRALS, start, end):
        raw = slot(row["programme_id"])[0]
        raw["applications_by_referral"][row["source"]] = row["submitted"]
        raw["admissions_by_referral"][row["source"]] = row["admitted"]
    for row in await conn.fetch(PLACES, *days):
        slot(row["programme_id"])[0]["places_offered"] = row["places_offered"]
    enrolments = [tuple(r) for r in await conn.fetch(LEARNER_ENROLMENTS, start, end)]
    learners = sorted({r[0] for r in enrolments}, key=lambda u: u.int)
    profiles = {r["learner_id"]: dict(r) for r in await conn.fetch(PROFILES, learners, end)} if learners else {}
    for _, programme_id, _ in enrolments:
        slot(programme_id)
    for row in await conn.fetch(EXITS, start, end):
        slot(row["programme_id"])[0]["exits_by_reason"][row["exit_reason"]] = row["n"]
    for row in await conn.fetch(FOLLOWUPS.format(cohort=where), *cohort_bounds):
        slot(row["programme_id"])[0].update({k: v for k, v in row.items() if k != "programme_id"})
    for row in await conn.fetch(OUTCOMES.format(cohort=where), *cohort_bounds):
        slot(row["programme_id"])[1][(row["situation"], row["digital_job"])] = row["n"]
    return per, enrolments, profiles


async def programmes(conn, year: int, moment: datetime | None = None) -> dict:
    """Every programme with its attributes, its mode as in force at the end of the year."""
    rows = await Reader(conn, moment).fetch(PROGRAMMES, date(year + 1, 1, 1))
    return {r["programme_id"]: dict(r) for r in rows}


# The network's own published figures (domain.md §6).
# Programmes running in the year (a session overlapping it; without sessions, starting in it),
# whether their delivery mode changed during it, and whether the mode in force on 31 December is
# the one they were registered with (their usual mode).
MODE_CHANGES = """
WITH running AS (
  SELECT p.programme_id, coalesce(p.mode, 'in_person') AS usual FROM programmes p
  WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.programme_id = p.programme_id
                AND s.start_date < $2 AND s.end_date >= $1)
     OR (NOT EXISTS (SELECT 1 FROM sessions s WHERE s.programme_id = p.programme_id)
         AND p.start_date >= $1 AND p.start_date < $2)
)
SELECT r.programme_id,
  EXISTS (SELECT 1 FROM programme_modes m WHERE m.programme_id = r.programme_id
          AND m.effective_on >= $1 AND m.effective_on < $2) AS changed,
  coalesce((SELECT m.mode FROM programme_modes m WHERE m.programme_id = r.programme_id AND m.effective_on < $2
            ORDER BY m.effective_on DESC LIMIT 1), r.usual) = r.usual AS usual_at_end
FROM running r
"""
# Everyone who started a training before the end of the year, since the first.
TRAINED_SINCE = """
SELECT DISTINCT learner_id, programme_id FROM enrolments WHERE started_at IS NOT NULL AND started_at < $1
"""
# The years of exit cohorts with a follow-up in scope, up to the year.
COHORT_YEARS = """
SELECT DISTINCT extract(year FROM exit_date)::int AS year FROM followups
WHERE exit_date < $1 AND status <> 'exempt' ORDER BY 1
"""


async def mode_changes(conn, year: int) -> list[tuple]:
    """(programme_id, changed during the year, back to its usual mode by 31 December) of the
    programmes running in the year."""
    rows = await conn.fetch(MODE_CHANGES, date(year, 1, 1), date(year + 1, 1, 1))
    return [(r["programme_id"], r["changed"], r["usual_at_end"]) for r in rows]


async def trained_since(conn, year: int) -> list[tuple]:
    """(learner_id, programme_id) of every training started before the end of the year."""
    _, end = year_bounds(year)
    return [tuple(r) for r in await conn.fetch(TRAINED_SINCE, end)]


async def cohort_years(conn, year: int) -> list[int]:
    return [r["year"] for r in await conn.fetch(COHORT_YEARS, date(year + 1, 1, 1))]
