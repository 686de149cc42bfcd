"""A training centre's space in progress (issue 18): its learners and their states, a progress
spreadsheet checked (a dry run, each refused line in words) then applied, and the statements of
its LMS that wait for something.

Server-rendered, in French first, signed in with the centre's key as a session (shared sign-in);
the spreadsheet goes through the same import as POST /facts/csv.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from services.progress import csv_import, refusal_words, statements_store, store
from services.progress.imports_api import csv_report
from shared.contracts.labels import N_
from shared.plumbing import auth
from shared.plumbing.pages import templates as page_templates
from shared.plumbing.pages import words_of
from shared.plumbing.signin import csrf_ok, for_centres, message

CENTRES = ("centre",)
POLICY: auth.Policy = {
    ("GET", "/centre/progress/login"): auth.PUBLIC, ("POST", "/centre/progress/login"): auth.PUBLIC,
    ("POST", "/centre/progress/logout"): auth.PUBLIC,
    ("GET", "/centre/progress"): CENTRES, ("POST", "/centre/progress/csv"): CENTRES,
    ("GET", "/centre/progress/template"): CENTRES,
}
SIGN_IN = for_centres("parcours_centre_progress", "/centre/progress")
router = APIRouter(prefix="/centre/progress", include_in_schema=False,
                   dependencies=[Depends(SIGN_IN.session), Depends(auth.guard(POLICY))])
templates = page_templates("services.progress", SIGN_IN.context)
SIGN_IN.mount(router, templates)
MAX_UPLOAD = 5 * 1024 * 1024  # a month of a large centre's attendance is well under 1 MB
def _pool(request: Request):
    return request.app.state.runtime.pool


@router.get("", response_class=HTMLResponse)
async def home(request: Request):
    return await _home(request)


async def _home(request: Request, status_code: int = 200, report: dict | None = None, error: str | None = None,
                file_text: str | None = None):
    centre_id = auth.principal_of(request).centre_id
    async with _pool(request).acquire() as conn:
        learners = await store.centre_enrolments(conn, centre_id)
        waiting = await statements_store.attention(conn, centre_id, 100)
    request.state.page = "/centre/progress"
    w = words_of(request)
    return templates.TemplateResponse(request, "centre_progress.html", {
        "learners": learners, "waiting": [_statement(w, s) for s in waiting], "report": report,
        "refusals": refusal_words.refused_lines(w, report) if report else [], "error": error, "file_text": file_text,
        "intake_url": request.app.state.settings.intake_page_url,
        "outcomes_url": request.app.state.settings.outcomes_page_url,
    }, status_code=status_code)


def _statement(w, row: dict) -> dict:
    statement = row["statement"] or {}
    verb = str((statement.get("verb") or {}).get("id", "")).rsplit("/", 1)[-1]
    actor = statement.get("actor") or {}
    who = (actor.get("account") or {}).get("name") or actor.get("mbox_sha1sum") or "—"
    return {"statement_id": row["statement_id"], "stored_at": row["stored_at"], "verb": verb, "who": who,
            "why": refusal_words.why(w, row["code"], row["reason"])}


@router.get("/template")
async def template() -> Response:
    return Response(csv_import.TEMPLATE, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="progress-template.csv"'})


@router.post("/csv")
async def upload(request: Request):
    """Check a spreadsheet (dry run: nothing stored) or apply it; the page shows each line's result."""
    async with request.form(max_files=1, max_fields=10) as form:
        if not csrf_ok(request, form.get("csrf")):
            return message(request, N_("This form has expired or was not sent from this page: nothing was "
                                       "recorded. Reload the page and send it again."), 403, "/centre/progress")
        # A file chosen, or the text of the file a dry run checked (the page keeps it to apply it).
        upload, checked, apply = form.get("file"), form.get("checked"), form.get("apply") == "1"
        if upload is not None and not isinstance(upload, str) and upload.filename:
            data = await upload.read(MAX_UPLOAD + 1)
        else:
            data = str(checked or "").encode()
    w = words_of(request)
    if not data:
        return await _home(request, 422, error=w._(N_("Choose a CSV file to send.")))
    if len(data) > MAX_UPLOAD:
        return await _home(request, 413, error=w._(N_("This file is too large (5 MB at most): split it.")))
    try:
        report = await csv_report(_pool(request), data, not apply, auth.principal_of(request))
    except csv_import.CsvFileError as exc:
        return await _home(request, 422, error=w._("The file cannot be read: %(why)s", why=str(exc)))
    kept = data.decode("utf-8-sig", errors="replace") if not apply else None
    return await _home(request, 200, report=report, file_text=kept)
