"""The follow-up staff's web page: worklist, one follow-up with live contact details, and forms.

Server-rendered (Jinja2), no build step; the forms go through the same validation and use
cases as the JSON API.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from urllib.parse import quote
from uuid import UUID

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from services.outcomes import domain, service, sessions, store
from services.outcomes.api import signed
from services.outcomes.schemas import AttemptIn, CloseIn, OutcomeIn
from services.outcomes.unit import PgUnit
from shared.contracts import labels, vocabulary
from shared.plumbing import auth
from shared.plumbing.http import status_of

STAFF = ("followup",)
POLICY: auth.Policy = {
    ("GET", "/staff/login"): auth.PUBLIC, ("POST", "/staff/login"): auth.PUBLIC, ("POST", "/staff/logout"): auth.PUBLIC,
    ("GET", "/staff"): STAFF, ("GET", "/staff/followups/{followup_id}"): STAFF,
    ("POST", "/staff/followups/{followup_id}/attempts"): STAFF,
    ("POST", "/staff/followups/{followup_id}/outcome"): STAFF,
    ("POST", "/staff/followups/{followup_id}/close"): STAFF,
}
LEGACY_COOKIE = "parcours_key"  # the key itself, before sessions: cleared at sign-in and sign-out


async def _staff_session(request: Request) -> None:
    """The signed-in staff member, from her session cookie; the guard that follows takes her principal
    (a key in a header works too, for tools). A session whose key no longer authenticates ends."""
    session_id = request.cookies.get(sessions.COOKIE)
    if not session_id:
        return
    s = request.app.state.settings
    async with _pool(request).acquire() as conn:
        session = await sessions.find(conn, session_id, timedelta(minutes=s.staff_session_idle_minutes),
                                      timedelta(hours=s.staff_session_hours))
        if session is None:
            return
        try:
            principal = await request.app.state.keys.principal_for_token(_pool(request), session.key)
        except auth.Unauthenticated:
            await sessions.end(conn, session_id)
            return
    request.state.session = session
    request.state.principal = principal


def _csrf(request: Request) -> dict:
    session = getattr(request.state, "session", None)
    return {"csrf": session.csrf if session else "", "signed_in": session is not None}


router = APIRouter(prefix="/staff", include_in_schema=False,
                   dependencies=[Depends(_staff_session), Depends(auth.guard(POLICY))])
templates = Jinja2Templates(directory=str(resources.files("services.outcomes") / "templates"),
                            context_processors=[_csrf])

STATUS_CHOICES = [("open", "due, attempted or overdue"), ("overdue", "overdue"), ("due", "due"),
                  ("attempted", "attempted"), ("scheduled", "scheduled"), ("unreachable", "unreachable"),
                  ("refused", "refused"), ("recorded", "recorded"), ("exempt", "exempt"), ("all", "all")]
OPEN = ["overdue", "due", "attempted"]
SITUATION_LABELS = labels.choices(labels.SITUATION)
SOURCE_LABELS = labels.choices(labels.INFORMATION_SOURCE)
CLOSING_LABELS = [("unreachable", "unreachable after attempts"), ("refused", "refused to answer"),
                  ("exempt", "exempt (out of scope)")]
EXEMPT_LABELS = labels.choices(labels.EXEMPT_REASON)


def _pool(request: Request):
    return request.app.state.runtime.pool


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, error: str | None = None):
    return templates.TemplateResponse(request, "login.html", {"error": error}, status_code=401 if error else 200)


@router.post("/login")
async def login(request: Request):
    """Check the staff member's key once and open a session: the cookie holds its random id, never the key."""
    token = str((await request.form()).get("key", "")).strip()
    try:
        principal = await request.app.state.keys.principal_for_token(_pool(request), token)
        auth.allow(principal, *STAFF)
    except (auth.Unauthenticated, auth.Forbidden) as exc:
        return await login_page(request, error=str(exc))
    s = request.app.state.settings
    async with _pool(request).acquire() as conn:
        session = await sessions.start(conn, principal.key_id, token)
    response = RedirectResponse("/staff", status_code=303)
    response.set_cookie(sessions.COOKIE, session.session_id, httponly=True, samesite="strict", path="/staff",
                        secure=s.staff_cookie_secure, max_age=int(s.staff_session_hours * 3600))
    response.delete_cookie(LEGACY_COOKIE, path="/staff")
    return response


@router.post("/logout")
async def logout(request: Request):
    """End the session (it no longer opens anything, even with the cookie kept) and clear the cookie."""
    session = getattr(request.state, "session", None)
    if session is not None:
        if not sessions.same_csrf(session, (await request.form()).get("csrf")):
            return HTMLResponse("<p>This form has expired. <a href='/staff'>Back to the worklist</a></p>",
                                status_code=403)
        async with _pool(request).acquire() as conn:
            await sessions.end(conn, session.session_id)
    response = RedirectResponse("/staff/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/staff")
    response.delete_cookie(LEGACY_COOKIE, path="/staff")
    return response


@router.get("", response_class=HTMLResponse)
async def worklist(request: Request, status: str = Query("open", max_length=20), staff: str | None = None,
                   offset: int = Query(0, ge=0, le=10_000_000), done: str | None = Query(None, max_length=200)):
    statuses = OPEN if status == "open" else None if status == "all" else [status]
    limit = 50
    async with _pool(request).acquire() as conn:
        items, total = await store.list_followups(conn, request.app.state.clock(), statuses, None, None, staff or None,
                                                  limit, offset)
    return templates.TemplateResponse(request, "worklist.html", {
        "items": items, "total": total, "status": status, "staff": staff, "offset": offset, "limit": limit,
        "status_choices": STATUS_CHOICES, "message": done,
    })


async def _contact(request: Request, followup: dict) -> tuple[dict | None, str | None]:
    """Contact details come from intake at the moment they are shown; they are never stored here.
    Intake answers those of the follow-up's own enrolment, while the follow-up is open."""
    url = (f"{request.app.state.settings.intake_url.rstrip('/')}/learners/{followup['learner_id']}/contact"
           f"?enrolment_id={followup['enrolment_id']}")
    session = getattr(request.state, "session", None)
    token = session.key if session else auth.token_of(request)
    # With the staff member's own key: intake decides whether they may see it.
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            r = await client.get(url, headers=headers)
    except httpx.HTTPError:
        return None, "Contact details are unavailable right now (intake does not answer)."
    if r.status_code == 200:
        return r.json(), None
    if r.status_code == 404:
        return None, ("No contact details for this follow-up: it is closed, or they were erased or never "
                      "given.")
    if r.status_code in (401, 403):
        return None, "Your key does not give access to contact details."
    return None, f"Contact details are unavailable right now (intake answered {r.status_code})."


async def _page(request: Request, followup_id: UUID, status_code: int = 200, **extra):
    async with _pool(request).acquire() as conn:
        followup = await service.followup_detail(PgUnit(conn), followup_id, today=request.app.state.clock())
    if followup is None:
        return HTMLResponse("<p>No such follow-up. <a href='/staff'>Back to the worklist</a></p>", status_code=404)
    contact, contact_error = await _contact(request, followup)
    today = request.app.state.clock()
    return templates.TemplateResponse(request, "followup.html", {
        "f": followup, "contact": contact, "contact_error": contact_error, "today": today.isoformat(),
        "observed_default": min(followup["observation_date"], today).isoformat(),
        "channels": vocabulary.CONTACT_CHANNELS, "results": vocabulary.CONTACT_RESULTS, "situations": SITUATION_LABELS,
        "sources": SOURCE_LABELS, "closings": CLOSING_LABELS, "exempt_reasons": EXEMPT_LABELS,
        "focus": "outcome" if followup["status"] in ("due", "attempted", "overdue") else "attempt", **extra,
    }, status_code=status_code)


@router.get("/followups/{followup_id}", response_class=HTMLResponse)
async def followup_page(request: Request, followup_id: UUID, done: str | None = None):
    return await _page(request, followup_id, message=done)


def _form_error(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


# Form fields that a page sends several times (checkboxes), read as lists.
LIST_FIELDS = ("situations",)


async def _submit(request: Request, followup_id: UUID, model, action, after: str):
    sent = await request.form()
    session = getattr(request.state, "session", None)
    if session is not None and not sessions.same_csrf(session, sent.get("csrf")):
        # A form posted from elsewhere (another site, another port of this host) with her cookie.
        return await _page(request, followup_id, 403, error="This form has expired or was not sent from this page: "
                                                             "nothing was recorded. Reload the page and send it again.")
    form = {k: v for k, v in sent.items() if v != "" and k not in (*LIST_FIELDS, "csrf")}
    form |= {k: sent.getlist(k) for k in LIST_FIELDS if k in model.model_fields and sent.getlist(k)}
    try:
        body = model.model_validate(form)
    except ValidationError as exc:
        return await _page(request, followup_id, 422, error=_form_error(exc))
    try:
        async with _pool(request).acquire() as conn, conn.transaction():
            await action(PgUnit(conn), followup_id, signed(request, body), today=request.app.state.clock())
    except domain.DomainError as exc:
        return await _page(request, followup_id, status_of(exc), error=str(exc))
    if after == "worklist":
        return RedirectResponse(f"/staff?done={quote('Outcome recorded.')}", status_code=303)
    return RedirectResponse(f"/staff/followups/{followup_id}?done={quote(after)}", status_code=303)


@router.post("/followups/{followup_id}/attempts")
async def attempt_form(request: Request, followup_id: UUID):
    return await _submit(request, followup_id, AttemptIn, service.log_attempt, "Attempt logged.")


@router.post("/followups/{followup_id}/outcome")
async def outcome_form(request: Request, followup_id: UUID):
    async with _pool(request).acquire() as conn:
        current = await store.get_followup(conn, request.app.state.clock(), followup_id)
    correcting = current is not None and current["status"] == "recorded"
    action = service.correct_outcome if correcting else service.record_outcome
    return await _submit(request, followup_id, OutcomeIn, action,
                         "Outcome corrected." if correcting else "worklist")


@router.post("/followups/{followup_id}/close")
async def close_form(request: Request, followup_id: UUID):
    return await _submit(request, followup_id, CloseIn, service.close_followup, "Follow-up closed.")
