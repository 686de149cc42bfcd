"""Publishing the key figures: a report frozen as it was published, and what changed since.

A published report is the figures of a year (with its breakdown, cohort and suppression) as
canonical JSON, stored with its SHA-256: printing it again gives the same bytes, whatever was
recorded later. A recomputation with the same parameters is compared with it figure by figure,
beside what reached the figures since (late facts, corrections, outcomes recorded).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

import asyncpg

from services.outcomes import indicators, publications_store, service
from shared.refusals import Missing

DEFAULT_SUPPRESSION = 20  # a published report is always suppressed (disclosure.py)


class UnknownReport(Missing):
    code = "not_found"


def canonical(figures: dict) -> bytes:
    """The one byte form of a report: sorted keys, no spaces, UTF-8 (the hash is over these bytes)."""
    return json.dumps(figures, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def publish(pool: asyncpg.Pool, year: int, by: str | None, cohort: str, suppress: int,
                  published_by: str, funding_line: str | None = None) -> dict:
    """Freeze the figures of a year as they are now; returns the publication (without its content)."""
    parameters = {"by": by, "cohort": cohort, "suppress": suppress, "funding_line": funding_line}
    now = datetime.now(UTC)
    figures = await service.key_figures(pool, year, by, cohort, suppress, funding_line)
    report_id = uuid.uuid4()
    figures["publication"] = {"report_id": str(report_id), "as_of": now.isoformat(), "parameters": parameters}
    content = canonical(figures)
    digest = hashlib.sha256(content).hexdigest()
    async with pool.acquire() as conn:
        await publications_store.insert(conn, report_id, year, parameters, indicators.DEFINITIONS_VERSION, content,
                                        digest, now, published_by)
    return {"report_id": report_id, "year": year, "parameters": parameters,
            "definitions": indicators.DEFINITIONS_VERSION, "sha256": digest, "published_at": now,
            "published_by": published_by}


async def published(pool: asyncpg.Pool, report_id: uuid.UUID) -> dict:
    """The publication with its content, as stored; UnknownReport when there is none."""
    async with pool.acquire() as conn:
        found = await publications_store.get(conn, report_id)
    if found is None:
        raise UnknownReport(f"no published report {report_id}")
    return found


async def publications(pool: asyncpg.Pool, year: int | None) -> list[dict]:
    async with pool.acquire() as conn:
        return await publications_store.listed(conn, year)


async def changes(pool: asyncpg.Pool, report_id: uuid.UUID) -> dict:
    """Each figure that differs between the publication and the same report recomputed now, and
    what reached the figures since it was published."""
    report = await published(pool, report_id)
    then = json.loads(report["content"])
    p = report["parameters"]
    now = await service.key_figures(pool, report["year"], p["by"], p["cohort"], p["suppress"],
                                    p.get("funding_line"))
    async with pool.acquire() as conn:
        since = await publications_store.applied_since(conn, report["published_at"])
    then.pop("publication", None)
    was, is_ = flatten(then), flatten(now)
    changed = [{"figure": path, "published": was.get(path), "now": is_.get(path)}
               for path in sorted(was.keys() | is_.keys()) if was.get(path) != is_.get(path)]
    return {"report_id": report_id, "published_at": report["published_at"], "sha256": report["sha256"],
            "changed": changed, "since": since}


def flatten(node, prefix: str = "") -> dict[str, object]:
    """Every figure of a report by its path (counts.exits_by_reason.certified, breakdown.32.rates...):
    the breakdown's groups by their key, not their position."""
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for key, value in node.items():
            if key == "groups" and isinstance(value, list):
                for group in value:
                    out |= flatten({k: v for k, v in group.items() if k != "key"}, f"{prefix}{group['key']}.")
            else:
                out |= flatten(value, f"{prefix}{key}.")
        return out
    return {prefix[:-1]: node}
