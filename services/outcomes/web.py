"""The follow-up staff's web page: worklist, one follow-up with live contact details, and forms.

Server-rendered (Jinja2), no build step; the forms go through the same validation and use
cases as the JSON API.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote
from uuid import UUID

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from services.outcomes import domain, service, store
from services.outcomes.api import signed
from services.outcomes.schemas import AttemptIn, CloseIn, OutcomeIn
from services.outcomes.unit import PgUnit
from shared.contracts import labels
from shared.contracts.labels import N_
from shared.plumbing import auth
from shared.plumbing.http import status_of
from shared.plumbing.pages import templates as page_templates
from shared.plumbing.pages import words_of
from shared.plumbing.signin import SignIn, csrf_ok, message

STAFF = ("followup",)
POLICY: auth.Policy = {
    ("GET", "/staff/login"): auth.PUBLIC, ("POST", "/staff/login"): auth.PUBLIC, ("POST", "/staff/logout"): auth.PUBLIC,
    ("GET", "/staff"): STAFF, ("GET", "/staff/followups/{followup_id}"): STAFF,
    ("POST", "/staff/followups/{followup_id}/attempts"): STAFF,
    ("POST", "/staff/followups/{followup_id}/outcome"): STAFF,
    ("POST", "/staff/followups/{followup_id}/close"): STAFF,
}
# The service's pages, one sign-in: the staff's worklist, the managers' dashboard.
SIGN_IN = SignIn(cookie="parcours_staff", homes={"followup": "/staff", "manager": "/manager"},
                 login_path="/staff/login", title=N_("Parcours · six-month follow-up"),
                 other_role=N_("This key does not open these pages: they are for follow-up staff and programme "
                               "managers."),
                 legacy_cookies=("parcours_key",))  # the key itself, before sessions
signed_in = SIGN_IN.session
session_context = SIGN_IN.context

router = APIRouter(prefix="/staff", include_in_schema=False,
                   dependencies=[Depends(signed_in), Depends(auth.guard(POLICY))])
templates = page_templates("services.outcomes", session_context)
SIGN_IN.mount(router, templates)

# The worklist's filter: the open ones first, then each status, then all (words in the catalogue).
STATUS_CHOICES = {"open": N_("due, attempted or overdue"), **{s: labels.FOLLOWUP_STATUS[s] for s in (
    "overdue", "due", "attempted", "scheduled", "unreachable", "refused", "recorded", "exempt")}, "all": N_("all")}
OPEN = ["overdue", "due", "attempted"]
CLOSINGS = {"unreachable": N_("unreachable after attempts"), "refused": N_("refused to answer"),
            "exempt": N_("exempt (out of scope)")}


# What a page says after a form did its work: carried in the address as the English message, shown
# only if it is one of these (an address cannot make the page say anything else).
ATTEMPT_LOGGED, OUTCOME_RECORDED = N_("Attempt logged."), N_("Outcome recorded.")
OUTCOME_CORRECTED, FOLLOWUP_CLOSED = N_("Outcome corrected."), N_("Follow-up closed.")
DONE = frozenset({ATTEMPT_LOGGED, OUTCOME_RECORDED, OUTCOME_CORRECTED, FOLLOWUP_CLOSED})
# The forms' fields, named as the page labels them.
FIELDS = {"channel": N_("Channel"), "attempted_on": N_("Date"), "result": N_("Result"), "note": N_("Note"),
          "situations": N_("Situation at six months"), "job_title": N_("Job title"), "source": N_("Source"),
          "observed_on": N_("Date the situation describes"), "status": N_("Why"), "reason": N_("Exemption reason"),
          "digital_job": N_("A job in the digital sector")}


def _pool(request: Request):
    return request.app.state.runtime.pool


def _message(request: Request, text: str, status_code: int) -> HTMLResponse:
    return message(request, text, status_code, "/staff")


@router.get("", response_class=HTMLResponse)
async def worklist(request: Request, status: str = Query("open", max_length=20), staff: str | None = None,
                   offset: int = Query(0, ge=0, le=10_000_000), done: str | None = Query(None, max_length=200)):
    statuses = OPEN if status == "open" else None if status == "all" else [status]
    limit = 50
    async with _pool(request).acquire() as conn:
        items, total = await store.list_followups(conn, request.app.state.clock(), statuses, None, None, staff or None,
                                                  limit, offset)
    w = words_of(request)
    return templates.TemplateResponse(request, "worklist.html", {
        "items": items, "total": total, "status": status, "staff": staff, "offset": offset, "limit": limit,
        "status_choices": w.choices(STATUS_CHOICES), "message": w._(done) if done in DONE else None,
        "names": await _names(request, items),
    })


async def _names(request: Request, items: list[dict]) -> dict:
    """Each open follow-up's learner by name, for staff whose key may read contact details (intake
    decides, and logs each read, as on the follow-up's own page); the others keep the short id."""
    shown = [f for f in items if f["status"] in OPEN]
    async with httpx.AsyncClient(timeout=3) as client:
        found = await asyncio.gather(*(_read_contact(request, f, client) for f in shown))
    return {f["followup_id"]: f"{contact['first_name']} {contact['last_name']}".strip()
            for f, (contact, _) in zip(shown, found, strict=True) if contact}


async def _contact(request: Request, followup: dict) -> tuple[dict | None, str | None]:
    async with httpx.AsyncClient(timeout=3) as client:
        contact, error = await _read_contact(request, followup, client)
    return contact, words_of(request)._(error) if error else None


async def _read_contact(request: Request, followup: dict, client: httpx.AsyncClient) -> tuple[dict | None, str | None]:
    """Contact details come from intake at the moment they are shown; they are never stored here.
    Intake answers those of the follow-up's own enrolment, while the follow-up is open."""
    url = (f"{request.app.state.settings.intake_url.rstrip('/')}/learners/{followup['learner_id']}/contact"
           f"?enrolment_id={followup['enrolment_id']}")
    session = getattr(request.state, "session", None)
    token = session.key if session else auth.token_of(request)
    # With the staff member's own key: intake decides whether they may see it.
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = await client.get(url, headers=headers)
    except httpx.HTTPError:
        return None, N_("Contact details are unavailable right now (intake does not answer).")
    if r.status_code == 200:
        return r.json(), None
    if r.status_code == 404:
        return None, N_("No contact details for this follow-up: it is closed, or they were erased or never given.")
    if r.status_code in (401, 403):
        return None, N_("Your key does not give access to contact details.")
    return None, N_("Contact details are unavailable right now (intake does not answer).")


async def _page(request: Request, followup_id: UUID, status_code: int = 200, **extra):
    async with _pool(request).acquire() as conn:
        followup = await service.followup_detail(PgUnit(conn), followup_id, today=request.app.state.clock())
    if followup is None:
        return _message(request, N_("No such follow-up."), 404)
    contact, contact_error = await _contact(request, followup)
    today = request.app.state.clock()
    w = words_of(request)
    request.state.page = f"/staff/followups/{followup_id}"
    return templates.TemplateResponse(request, "followup.html", {
        "f": followup, "contact": contact, "contact_error": contact_error, "today": today.isoformat(),
        "observed_default": min(followup["observation_date"], today).isoformat(),
        "channels": w.choices(labels.CONTACT_CHANNEL), "results": w.choices(labels.CONTACT_RESULT),
        "situations": w.choices(labels.SITUATION), "sources": w.choices(labels.INFORMATION_SOURCE),
        "closings": w.choices(CLOSINGS), "exempt_reasons": w.choices(labels.EXEMPT_REASON),
        "focus": "outcome" if followup["status"] in ("due", "attempted", "overdue") else "attempt", **extra,
    }, status_code=status_code)


@router.get("/followups/{followup_id}", response_class=HTMLResponse)
async def followup_page(request: Request, followup_id: UUID, done: str | None = None):
    return await _page(request, followup_id, message=words_of(request)._(done) if done in DONE else None)


def _form_error(w, exc: ValidationError) -> str:
    """Which field is wrong, in the reader's words (pydantic's own message beside it, in English)."""
    return "; ".join(w._("%(field)s: %(problem)s", field=w._(FIELDS.get(str(e["loc"][0]), str(e["loc"][0]))),
                         problem=e["msg"]) for e in exc.errors())


# Form fields that a page sends several times (checkboxes), read as lists.
LIST_FIELDS = ("situations",)


async def _submit(request: Request, followup_id: UUID, model, action, after: str):
    sent = await request.form()
    if not csrf_ok(request, sent.get("csrf")):
        # A form posted from elsewhere (another site, another port of this host) with her cookie.
        return await _page(request, followup_id, 403, error=words_of(request)._(N_(
            "This form has expired or was not sent from this page: nothing was recorded. Reload the page and send it "
            "again.")))
    form = {k: v for k, v in sent.items() if v != "" and k not in (*LIST_FIELDS, "csrf")}
    form |= {k: sent.getlist(k) for k in LIST_FIELDS if k in model.model_fields and sent.getlist(k)}
    try:
        body = model.model_validate(form)
    except ValidationError as exc:
        return await _page(request, followup_id, 422, error=_form_error(words_of(request), exc))
    try:
        async with _pool(request).acquire() as conn, conn.transaction():
            await action(PgUnit(conn), followup_id, signed(request, body), today=request.app.state.clock())
    except domain.DomainError as exc:
        return await _page(request, followup_id, status_of(exc), error=str(exc))
    if after == "worklist":
        return RedirectResponse(f"/staff?done={quote(OUTCOME_RECORDED)}", status_code=303)
    return RedirectResponse(f"/staff/followups/{followup_id}?done={quote(after)}", status_code=303)


@router.post("/followups/{followup_id}/attempts")
async def attempt_form(request: Request, followup_id: UUID):
    return await _submit(request, followup_id, AttemptIn, service.log_attempt, ATTEMPT_LOGGED)


@router.post("/followups/{followup_id}/outcome")
async def outcome_form(request: Request, followup_id: UUID):
    async with _pool(request).acquire() as conn:
        current = await store.get_followup(conn, request.app.state.clock(), followup_id)
    correcting = current is not None and current["status"] == "recorded"
    action = service.correct_outcome if correcting else service.record_outcome
    return await _submit(request, followup_id, OutcomeIn, action,
                         OUTCOME_CORRECTED if correcting else "worklist")


@router.post("/followups/{followup_id}/close")
async def close_form(request: Request, followup_id: UUID):
    return await _submit(request, followup_id, CloseIn, service.close_followup, FOLLOWUP_CLOSED)
