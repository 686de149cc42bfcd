"""A training centre's own key figures beside the network's (issue 18), as a published report
by centre would show them: suppressed under 20, so that a centre reads of its learners no more
than anyone may. Server-rendered in French first, signed in with the centre's key (its own
session in this service: shared sign-in)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from services.outcomes import report_files, service
from services.outcomes.dashboard import FIRST_YEAR, PUBLISHED_THRESHOLD
from shared.plumbing import auth
from shared.plumbing.pages import templates as page_templates
from shared.plumbing.pages import words_of
from shared.plumbing.signin import for_centres

CENTRES = ("centre",)
POLICY: auth.Policy = {
    ("GET", "/centre/figures/login"): auth.PUBLIC, ("POST", "/centre/figures/login"): auth.PUBLIC,
    ("POST", "/centre/figures/logout"): auth.PUBLIC, ("GET", "/centre/figures"): CENTRES,
}
SIGN_IN = for_centres("parcours_centre_outcomes", "/centre/figures")
router = APIRouter(prefix="/centre/figures", include_in_schema=False,
                   dependencies=[Depends(SIGN_IN.session), Depends(auth.guard(POLICY))])
templates = page_templates("services.outcomes", SIGN_IN.context)
SIGN_IN.mount(router, templates)
# The counts a centre reads beside the rates.
COUNTS = ("applications_submitted", "applications_admitted", "learners_trained_or_in_training", "exits_total",
          "followups_in_scope", "outcomes_recorded")


@router.get("", response_class=HTMLResponse)
async def figures(request: Request, year: int | None = Query(None, ge=FIRST_YEAR, le=2100)):
    year = year or request.app.state.clock().year - 1
    centre_id = auth.principal_of(request).centre_id
    w = words_of(request)
    by_centre = await service.key_figures(request.app.state.runtime.pool, year, "centre", "exit",
                                          PUBLISHED_THRESHOLD)
    mine = next((g for g in by_centre["breakdown"]["groups"] if g["key"] == str(centre_id)), None)
    counts = [(w._(report_files.COUNTS[name]), by_centre["counts"][name], mine["counts"][name] if mine else None)
              for name in COUNTS]
    rates = [(label, rate, report_files.rate_at(mine["rates"], tuple(name.split("."))) if mine else None,
              name == report_files.PER_PLACE) for name, label, rate in report_files.rate_rows(w, by_centre["rates"])]
    request.state.page = "/centre/figures"
    return templates.TemplateResponse(request, "centre_figures.html", {
        "year": year, "years": list(range(request.app.state.clock().year, FIRST_YEAR - 1, -1)),
        "centre_name": mine["label"] if mine else None, "counts": counts, "rates": rates,
        "who": report_files.who_is_counted(w, by_centre),
        "shown_rate": lambda rate, per_place=False: report_files.shown_rate(w, rate, per_place),
        "intake_url": request.app.state.settings.intake_page_url,
        "progress_url": request.app.state.settings.progress_page_url,
    })
