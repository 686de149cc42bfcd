"""A training centre's space in intake (issue 18): its programmes' sessions with the places left
and the waitlists, and the applications waiting for its decision, decided one by one or together.

Server-rendered, in French first, signed in with the centre's key as a session (shared sign-in);
the forms go through the same use case as POST /decisions/batch, for the centre's own applications.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from services.intake import service, store
from services.intake import store_catalogue as catalogue
from services.intake.domain import DomainError
from services.intake.schemas import DecisionItemIn
from services.intake.unit import PgUnit
from shared.contracts.labels import N_
from shared.plumbing import auth
from shared.plumbing.pages import templates as page_templates
from shared.plumbing.pages import words_of
from shared.plumbing.signin import csrf_ok, for_centres, message

CENTRES = ("centre",)
POLICY: auth.Policy = {
    ("GET", "/centre/login"): auth.PUBLIC, ("POST", "/centre/login"): auth.PUBLIC,
    ("POST", "/centre/logout"): auth.PUBLIC,
    ("GET", "/centre"): CENTRES, ("POST", "/centre/decisions"): CENTRES,
}
SIGN_IN = for_centres("parcours_centre_intake", "/centre")
router = APIRouter(prefix="/centre", include_in_schema=False,
                   dependencies=[Depends(SIGN_IN.session), Depends(auth.guard(POLICY))])
templates = page_templates("services.intake", SIGN_IN.context)
SIGN_IN.mount(router, templates)
WAITING = ("submitted", "screened")  # the applications a centre has still to decide on
# The decisions a page offers, and the reasons a rejection may give (the API takes any reason code).
DECISIONS = {"admitted": N_("admit"), "waitlisted": N_("waitlist"), "rejected": N_("reject"),
             "screened": N_("mark as screened")}
REJECTION_REASONS = {"not_eligible": N_("does not meet the programme's conditions"),
                     "profile_mismatch": N_("profile does not match the programme"),
                     "incomplete": N_("incomplete application")}
# Why a decision was refused, in words (the API's codes).
REFUSALS = {"capacity_reached": N_("the session is full: waitlist the candidate or free a place"),
            "reason_required": N_("a rejection needs a reason"),
            "invalid_transition": N_("this decision does not follow the application's current status"),
            "not_found": N_("this application is not one of yours"),
            "forbidden": N_("this application is not one of yours")}


def _pool(request: Request):
    return request.app.state.runtime.pool


@router.get("", response_class=HTMLResponse)
async def home(request: Request, done: int | None = None):
    return await _home(request, done=done)


async def _home(request: Request, status_code: int = 200, done: int | None = None, refused: list | None = None):
    principal = auth.principal_of(request)
    w = words_of(request)
    async with _pool(request).acquire() as conn:
        sessions = await catalogue.centre_sessions(conn, principal.centre_id)
        waiting = []
        for status in WAITING:
            items, _ = await store.list_applications(conn, {
                "session_id": None, "programme_id": None, "centre_id": principal.centre_id, "status": status,
                "submitted_from": None, "submitted_to": None, "limit": 200, "offset": 0})
            waiting += items
    titles = {s["session_id"]: s for s in sessions}
    waiting.sort(key=lambda a: a["submitted_at"])
    request.state.page = "/centre"
    return templates.TemplateResponse(request, "centre.html", {
        "sessions": sessions, "waiting": waiting, "session_of": titles,
        "decisions": w.choices(DECISIONS), "reasons": w.choices(REJECTION_REASONS),
        "message": w.n_("%(n)s decision recorded.", "%(n)s decisions recorded.", done) if done else None,
        "refused": refused or [], "progress_url": request.app.state.settings.progress_page_url,
        "outcomes_url": request.app.state.settings.outcomes_page_url,
    }, status_code=status_code)


@router.post("/decisions")
async def decide(request: Request):
    """One decision (a row's own buttons) or the same decision for every ticked application."""
    sent = await request.form()
    w = words_of(request)
    if not csrf_ok(request, sent.get("csrf")):
        return message(request, N_("This form has expired or was not sent from this page: nothing was recorded. "
                                   "Reload the page and send it again."), 403, "/centre")
    if sent.get("one"):  # a row's own button: "admitted:<application id>"
        decision, _, one = str(sent["one"]).partition(":")
        chosen, reason = [one], None
    else:
        chosen, decision = sent.getlist("application_id"), sent.get("decision") or ""
        reason = (sent.get("reason") or None) if decision == "rejected" else None
    principal = auth.principal_of(request)
    now = datetime.now(UTC)
    try:
        items = [DecisionItemIn(application_id=UUID(a), decision=decision, reason=reason, decided_at=now)
                 for a in chosen]
    except (ValidationError, ValueError):
        return await _home(request, 422, refused=[("—", w._(N_("Choose a decision for the applications ticked.")))])
    if not items:
        return await _home(request, 422, refused=[("—", w._(N_("Tick at least one application.")))])
    actor = auth.acting(principal, None) or "centre"
    async with _pool(request).acquire() as conn, conn.transaction():
        centres = await store.centres_of_applications(conn, [i.application_id for i in items])
        mine = [i for i in items if principal.role != "centre" or centres.get(i.application_id) == principal.centre_id]
        outcomes = await service.decide_applications(PgUnit(conn), mine, actor) if mine else []
    refused = [(str(i.application_id)[:8], w._(REFUSALS["forbidden"])) for i in items if i not in mine]
    refused += [(str(i.application_id)[:8], w._(REFUSALS.get(o.code, str(o))))
                for i, o in zip(mine, outcomes, strict=True) if isinstance(o, DomainError)]
    done = len(mine) - sum(isinstance(o, DomainError) for o in outcomes)
    if refused:
        return await _home(request, 409, done=done, refused=refused)
    return RedirectResponse(f"/centre?done={quote(str(done))}", status_code=303)
