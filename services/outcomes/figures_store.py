"""Outcomes's key-figure queries: every count of the indicators, per programme, for one year.

$1 and $2 are the year's bounds: moments (midnight in Paris) for the timestamps, French calendar
days for the date columns (exit dates are stored as French days already). Each count
uses the date of its own fact; the follow-up counts use the exit cohort (exit dated in the year)
or, on request, the entry cohort (start dated in the year).
"""

from __future__ import annotations

from datetime import date

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
# A learner's attributes come from their application to that programme.
LEARNERS = """
WITH e AS (
  SELECT e.programme_id, e.started_at, a.gender, a.education_level, a.age_band, a.qpv, a.zrr, a.job_seeker,
         (e.started_at < $2 AND (e.exited_at IS NULL OR e.exited_at >= $1)) AS tit
  FROM enrolments e
  LEFT JOIN LATERAL (
    SELECT gender, education_level, age_band, qpv, zrr, job_seeker FROM applications a
    WHERE a.learner_id = e.learner_id AND a.programme_id = e.programme_id
    ORDER BY a.submitted_at DESC NULLS LAST LIMIT 1) a ON true
  WHERE e.started_at IS NOT NULL)
SELECT programme_id,
  count(*) FILTER (WHERE started_at >= $1 AND started_at < $2) AS learners_started,
  count(*) FILTER (WHERE tit) AS learners_trained_or_in_training,
  count(*) FILTER (WHERE tit AND education_level IN ('below_3', '3', '4')) AS learners_bac_or_lower,
  count(*) FILTER (WHERE tit AND gender = 'female') AS learners_women,
  count(*) FILTER (WHERE tit AND qpv) AS learners_qpv,
  count(*) FILTER (WHERE tit AND zrr) AS learners_zrr,
  count(*) FILTER (WHERE tit AND job_seeker) AS learners_job_seekers,
  count(*) FILTER (WHERE tit AND age_band = 'under_26') AS learners_under_26
FROM e GROUP BY programme_id
"""
EXITS = """
SELECT programme_id, exit_reason, count(*) AS n FROM enrolments
WHERE exited_at >= $1 AND exited_at < $2 AND exit_reason <> 'transferred'
GROUP BY programme_id, exit_reason
"""
COHORT = {
    "exit": "f.exit_date >= $1 AND f.exit_date < $2",
    "entry": """EXISTS (SELECT 1 FROM enrolments e WHERE e.learner_id = f.learner_id
                AND e.programme_id = f.programme_id AND e.started_at >= $1 AND e.started_at < $2)""",
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
PROGRAMMES = "SELECT programme_id, centre_id, centre_name, title, region, job_family FROM programmes"


async def counts_per_programme(conn, year: int, cohort: str = "exit") -> dict:
    """{programme_id: (raw counts, {(situation, digital_job): n})} for one year."""
    start, end = year_bounds(year)
    days = date(year, 1, 1), date(year + 1, 1, 1)
    cohort_bounds = days if cohort == "exit" else (start, end)
    where = COHORT[cohort]
    per: dict = {}

    def slot(programme_id):
        return per.setdefault(programme_id, ({"exits_by_reason": {}}, {}))

    for row in await conn.fetch(APPLICATIONS, start, end):
        slot(row["programme_id"])[0].update({k: v for k, v in row.items() if k != "programme_id"})
    for row in await conn.fetch(PLACES, *days):
        slot(row["programme_id"])[0]["places_offered"] = row["places_offered"]
    for row in await conn.fetch(LEARNERS, start, end):
        slot(row["programme_id"])[0].update({k: v for k, v in row.items() if k != "programme_id"})
    for row in await conn.fetch(EXITS, start, end):
        slot(row["programme_id"])[0]["exits_by_reason"][row["exit_reason"]] = row["n"]
    for row in await conn.fetch(FOLLOWUPS.format(cohort=where), *cohort_bounds):
        slot(row["programme_id"])[0].update({k: v for k, v in row.items() if k != "programme_id"})
    for row in await conn.fetch(OUTCOMES.format(cohort=where), *cohort_bounds):
        slot(row["programme_id"])[1][(row["situation"], row["digital_job"])] = row["n"]
    return per


async def programmes(conn) -> dict:
    return {r["programme_id"]: dict(r) for r in await conn.fetch(PROGRAMMES)}
