"""The figures the network publishes beyond the rates (domain.md §6): the target jobs ranked by
their learners, the programmes that changed their delivery mode during the year (and those back
to their usual mode by 31 December), the people trained since the first year and the positive
exit rate over the years.

Figures about people are taken from the key figures themselves (the job-family breakdown, each
year's report), with the same suppression, so that what is withheld in one is withheld in the
other; the pooled rate is withheld when a single year's is, since it would give that year back.
"""

from __future__ import annotations

import asyncpg

from services.outcomes import figures_store, indicators, service
from services.outcomes.disclosure import WITHHELD


async def network_figures(pool: asyncpg.Pool, year: int, suppress: int | None = None,
                          funding_line: str | None = None) -> dict:
    async with pool.acquire() as conn:
        modes = await figures_store.mode_changes(conn, year)
        trained = await figures_store.trained_since(conn, year)
        years = await figures_store.cohort_years(conn, year)
        catalogue = await figures_store.programmes(conn, year)
    if funding_line:
        funded = {pid for pid, p in catalogue.items() if p["funding_line"] == funding_line}
        modes = [m for m in modes if m[0] in funded]
        trained = [t for t in trained if t[1] in funded]
    by_job = await service.key_figures(pool, year, "job_family", "exit", suppress, funding_line)
    yearly = {y: (await service.key_figures(pool, y, None, "exit", suppress, funding_line))["rates"]
              ["positive_exit_rate"]["gen_2020"] for y in years}
    return {
        "year": year,
        "funding_line": funding_line,
        "suppressed_under": suppress,
        "target_jobs": _ranked(by_job["breakdown"]["groups"]),
        "mode_changes": _modes(modes),
        "since_launch": {
            "first_year": years[0] if years else None,
            "people_trained": _count(len({learner for learner, _ in trained}), suppress),
            "positive_exit_rate_by_year": [{"year": y, **yearly[y]} for y in years],
            "positive_exit_rate_pooled": _pooled(list(yearly.values())),
        },
    }


def _ranked(groups: list[dict]) -> list[dict]:
    """Job families by their learners, most first; withheld ones last, by code (their rank would
    bound them)."""
    jobs = [{"job_family": g["key"], "label": g["label"], "learners": g["counts"]["learners_trained_or_in_training"]}
            for g in groups]
    shown = sorted((j for j in jobs if j["learners"] != WITHHELD), key=lambda j: (-j["learners"], j["job_family"]))
    return shown + sorted((j for j in jobs if j["learners"] == WITHHELD), key=lambda j: j["job_family"])


def _count(n: int, suppress: int | None):
    return WITHHELD if suppress and 0 < n < suppress else n


def _modes(rows: list[tuple]) -> dict:
    changed = [usual for _, moved, usual in rows if moved]
    return {"programmes": len(rows), "changed": len(changed), "back_by_31_december": sum(changed),
            "share_changed": indicators.rate(len(changed), len(rows)),
            "share_back": indicators.rate(sum(changed), len(changed))}


def _pooled(rates: list[dict]) -> dict:
    withheld = [r for r in rates if r["value"] == WITHHELD]
    if withheld:  # one withheld year would be the pooled figure minus the others
        return {"value": WITHHELD, "numerator": None, "denominator": None, "suppressed": True}
    return indicators.rate(sum(r["numerator"] for r in rates), sum(r["denominator"] for r in rates))
