"""The programme managers' dashboard: a year's key figures in the browser, with the funnel, each
rate with its numerator and denominator, a definition, a breakdown, the year before beside it, the
published reports, and the report to download as CSV, JSON or HTML.

Server-rendered like the staff page, with the same sign-in and session. Figures are shown as they
would be published (suppressed under 20) unless the manager asks for every count.
"""

from __future__ import annotations

import json
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.outcomes import publications, report_files, service
from services.outcomes.indicators import POSITIVE_DEFINITIONS
from services.outcomes.schemas import BREAKDOWN_NAMES
from services.outcomes.web import session_context, signed_in
from shared.plumbing import auth
from shared.plumbing.pages import language_context, words_of
from shared.plumbing.pages import templates as page_templates

MANAGERS = ("manager",)
POLICY: auth.Policy = {
    ("GET", "/manager"): MANAGERS, ("GET", "/manager/download"): MANAGERS,
    ("GET", "/manager/published/{report_id}"): MANAGERS,
}
PUBLISHED_THRESHOLD = 20  # the usual threshold of a published report
FIRST_YEAR = 2016
router = APIRouter(prefix="/manager", include_in_schema=False,
                   dependencies=[Depends(signed_in), Depends(auth.guard(POLICY))])
templates = page_templates("services.outcomes", session_context)
Definition = Literal["gen_2020", "employment_or_study_v1", "durable_employment_v1"]


def _pool(request: Request):
    return request.app.state.runtime.pool


class Choice:
    """What the manager asked to see, with the defaults a first visit gets."""

    def __init__(self, request: Request, year: int | None, compare: str | None, by: str | None, definition: str,
                 cohort: str, every_count: bool) -> None:
        self.year = year or request.app.state.clock().year - 1
        # Beside it, the year before unless another year (or none) is chosen.
        self.compare = int(compare) if compare and compare.isdigit() else (None if compare == "none" else self.year - 1)
        # The form sends an empty breakdown for the whole network.
        self.by = by if by in BREAKDOWN_NAMES else None
        self.definition, self.cohort = definition, cohort
        self.suppress = None if every_count else PUBLISHED_THRESHOLD

    def query(self, **override) -> str:
        params = {"year": self.year, "compare": self.compare or "none", "by": self.by or "",
                  "definition": self.definition, "cohort": self.cohort,
                  **({"every_count": "1"} if self.suppress is None else {}), **override}
        return "&".join(f"{k}={v}" for k, v in params.items())


async def _figures(request: Request, choice: Choice, year: int) -> dict:
    return await service.key_figures(_pool(request), year, choice.by, choice.cohort, choice.suppress)


def _choice(request: Request, year: int | None = Query(None, ge=FIRST_YEAR, le=2100),
            compare: str | None = Query(None, max_length=8), by: str = Query("", max_length=20),
            definition: Definition = "gen_2020", cohort: Literal["exit", "entry"] = "exit",
            every_count: bool = False) -> Choice:
    return Choice(request, year, compare, by, definition, cohort, every_count)


@router.get("", response_class=HTMLResponse)
async def dashboard(request: Request, choice: Choice = Depends(_choice)):
    return templates.TemplateResponse(request, "manager.html", await _page(request, choice))


async def _page(request: Request, choice: Choice) -> dict:
    w = words_of(request)
    figures = await _figures(request, choice, choice.year)
    before = await _figures(request, choice, choice.compare) if choice.compare else None
    chosen = ("positive_exit_rate", choice.definition)
    breakdown = figures.get("breakdown")
    return {
        "choice": choice, "figures": figures, "before": before,
        "years": list(range(request.app.state.clock().year, FIRST_YEAR - 1, -1)),
        "breakdowns": [(code, w._(words)) for code, words in report_files.BREAKDOWNS.items()],
        "definitions": [(code, w._(report_files.DEFINITIONS[code])) for code in POSITIVE_DEFINITIONS],
        "funnel": _funnel(w, figures, before),
        "rates": _rates(w, figures, before, chosen),
        "who": report_files.who_is_counted(w, figures),
        "groups": [{"label": report_files.group_label(w, breakdown["by"], g), "counts": g["counts"],
                    "rate": report_files.rate_at(g["rates"], chosen)} for g in breakdown["groups"]]
        if breakdown else [],
        "breakdown_name": w._(report_files.BREAKDOWNS[choice.by]) if choice.by else None,
        "published": await publications.publications(_pool(request), choice.year),
        "shown_rate": lambda rate, per_place=False: report_files.shown_rate(w, rate, per_place),
    }


def _funnel(w, figures: dict, before: dict | None) -> list[dict]:
    now = report_files.funnel(figures["counts"], figures["rates"])
    then = report_files.funnel(before["counts"], before["rates"]) if before else [(None, None)] * len(now)
    top = now[0][1] if isinstance(now[0][1], int) and now[0][1] else 1
    return [{"label": w._(words), "value": value, "before": old,
             "width": round(100 * value / top, 1) if isinstance(value, int) else 0}
            for (words, value), (_, old) in zip(now, then, strict=True)]


def _rates(w, figures: dict, before: dict | None, chosen: tuple[str, str]) -> list[dict]:
    """The chosen definition's positive exit rate first, then every rate of the report."""
    paths = [(chosen, w._(report_files.DEFINITIONS[chosen[1]]))]
    paths += [(path, w._(words)) for path, words in report_files.RATES if path != chosen]
    return [{"name": ".".join(path), "label": label, "rate": report_files.rate_at(figures["rates"], path),
             "before": report_files.rate_at(before["rates"], path) if before else None,
             "per_place": path == (report_files.PER_PLACE,), "chosen": path == chosen}
            for path, label in paths]


@router.get("/download")
async def download(request: Request, choice: Choice = Depends(_choice),
                   format: Literal["csv", "json", "html"] = "csv") -> Response:  # noqa: A002 - the query's name
    """The report as shown, as a file: CSV (every figure), JSON (the API's), or this page alone."""
    name = f"parcours-{choice.year}" + (f"-{choice.by}" if choice.by else "")
    if format == "html":
        page = await _page(request, choice)
        body = templates.get_template("manager_report.html").render({**page, **language_context(request)})
        media = "text/html; charset=utf-8"
    else:
        figures = await _figures(request, choice, choice.year)
        body = report_files.format_csv(figures) if format == "csv" else json.dumps(figures, indent=2, sort_keys=True)
        media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'})


@router.get("/published/{report_id}")
async def published(request: Request, report_id: UUID) -> Response:
    """A published report exactly as published (its hash is the publication's)."""
    report = await publications.published(_pool(request), report_id)
    return Response(report["content"], media_type="application/json", headers={
        "X-Content-SHA256": report["sha256"],
        "Content-Disposition": f'attachment; filename="parcours-published-{report_id}.json"'})
