"""Outcomes's SQL on published reports (frozen key figures) and on what was applied since one."""

from __future__ import annotations

import json

INSERT = """
INSERT INTO published_reports (report_id, year, parameters, definitions, content, sha256, published_at, published_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""
COLUMNS = "report_id, year, parameters, definitions, sha256, published_at, published_by"
GET = f"SELECT {COLUMNS}, content FROM published_reports WHERE report_id = $1"
LIST = f"SELECT {COLUMNS} FROM published_reports WHERE ($1::integer IS NULL OR year = $1) ORDER BY published_at DESC"
# What reached the figures after a moment: the events applied (late facts, corrections) and the
# outcomes recorded here (a correction names the outcome it replaces).
APPLIED_SINCE = """
SELECT event_type, count(*) AS n FROM processed_events WHERE processed_at > $1 GROUP BY event_type
"""
RECORDED_SINCE = """
SELECT count(*) FILTER (WHERE corrects IS NULL) AS recorded, count(*) FILTER (WHERE corrects IS NOT NULL) AS corrected
FROM (SELECT convert_from(payload, 'UTF8')::jsonb #>> '{data,corrects_event_id}' AS corrects
      FROM outbox WHERE event_type = 'outcome.recorded' AND created_at > $1) o
"""


def _row(record) -> dict:
    row = dict(record)
    row["parameters"] = json.loads(row["parameters"]) if isinstance(row["parameters"], str) else row["parameters"]
    return row


async def insert(conn, report_id, year: int, parameters: dict, definitions: str, content: bytes, sha256: str,
                 published_at, published_by: str) -> None:
    await conn.execute(INSERT, report_id, year, json.dumps(parameters), definitions, content, sha256,
                       published_at, published_by)


async def get(conn, report_id) -> dict | None:
    record = await conn.fetchrow(GET, report_id)
    return _row(record) if record else None


async def listed(conn, year: int | None) -> list[dict]:
    return [_row(r) for r in await conn.fetch(LIST, year)]


async def applied_since(conn, moment) -> dict:
    """Event types applied after the moment, and outcomes recorded and corrected here since."""
    events = {r["event_type"]: r["n"] for r in await conn.fetch(APPLIED_SINCE, moment)}
    recorded = await conn.fetchrow(RECORDED_SINCE, moment)
    return {"events_applied": events, "outcomes_recorded": recorded["recorded"],
            "outcomes_corrected": recorded["corrected"]}
