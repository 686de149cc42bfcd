"""Progress's import route for a centre's spreadsheet (CSV): it only translates its lines into
FactIn bodies and hands them to the same batch as POST /facts/batch, one result per line, each
applied or refused on its own. (An LMS's xAPI statements come in through lrs_api.)"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from services.progress import access, csv_import
from services.progress.domain import DomainError
from services.progress.responses import CsvReport
from services.progress.schemas import FactIn
from shared.plumbing import auth
from shared.plumbing.batch import Lent, run_batch_at_once
from shared.plumbing.http import problem
from shared.plumbing.schemas import problems

router = APIRouter(dependencies=[Depends(auth.guard(access.POLICY))])

CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel")
MAX_STATEMENTS = 1000
HOW_TO_SEND = ("send the CSV file as text/csv (curl -H 'Content-Type: text/csv' --data-binary @facts.csv) or as "
               "the field file of a multipart upload (curl -F file=@facts.csv)")
CSV_BODY = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
}}}


def _pool(request: Request):
    return request.app.state.runtime.pool


async def _apply(pool, items: list[dict], dry_run: bool, principal) -> list[dict]:
    post = access.post_facts_as(principal)
    if not dry_run:
        return await run_batch_at_once(pool, items, FactIn, post, (DomainError, *access.REFUSALS))
    # The very same batch inside a transaction that is always rolled back: its own transaction
    # becomes a savepoint, so every refusal, duplicate and state change is what a real run
    # would report, and nothing (fact, enrolment, outbox row) survives.
    async with pool.acquire() as conn:
        outer = conn.transaction()
        await outer.start()
        try:
            return await run_batch_at_once(Lent(conn), items, FactIn, post, (DomainError, *access.REFUSALS))
        finally:
            await outer.rollback()


async def _csv_upload(request: Request) -> bytes | JSONResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        async with request.form() as form:
            upload = form.get("file")
            if upload is None:
                return problem(422, "no_file", f"the multipart upload has no field named file: {HOW_TO_SEND}")
            return upload.encode() if isinstance(upload, str) else await upload.read()
    if content_type in CSV_TYPES:
        return await request.body()
    return problem(415, "unsupported_media_type", f"{content_type or 'no content type'}: {HOW_TO_SEND}")


@router.post(
    "/facts/csv", response_model=CsvReport, response_model_exclude_none=True, responses=problems(413, 415, 422),
    tags=["progress"],
    openapi_extra=CSV_BODY,
    summary="Post a spreadsheet of training facts (CSV), each line with its own result",
    description="Columns event_id (optional), learner_id, programme_id, type, occurred_at, hours, milestone, "
    "reason, exit_reason, dropout_cause; separated by , or ; (UTF-8, BOM and CRLF accepted); an empty cell is "
    "absent. occurred_at: ISO 8601 with an offset, or YYYY-MM-DD HH:MM, DD/MM/YYYY HH:MM (Paris time), or "
    "YYYY-MM-DD, DD/MM/YYYY (noon, Paris time). Hours accept a decimal comma. At most 10,000 data lines. "
    "dry_run=true checks every line exactly as a real run would and stores nothing. Template: "
    "GET /facts/csv/template; details in docs/progress-import.md.",
)
async def post_facts_csv(request: Request, dry_run: bool = Query(False, description="check, store nothing")):
    data = await _csv_upload(request)
    if isinstance(data, JSONResponse):
        return data
    try:
        return await csv_report(_pool(request), data, dry_run, auth.principal_of(request))
    except csv_import.TooManyLines as exc:
        return problem(413, exc.code, str(exc))
    except csv_import.CsvFileError as exc:
        return problem(422, exc.code, str(exc))


async def csv_report(pool, data: bytes, dry_run: bool, principal) -> dict:
    """Each line of the file with its result (applied, duplicate, refused with why), as a real run would
    answer, stored only without dry_run. CsvFileError (TooManyLines) for a file that cannot be read."""
    lines = csv_import.parse(data)
    readable = [line for line in lines if not line.errors]
    applied = await _apply(pool, [line.item for line in readable], dry_run, principal)
    by_line = {line.number: result for line, result in zip(readable, applied, strict=True)}
    report = []
    for line in lines:
        if line.errors:
            report.append({"line": line.number, "result": "refused", "code": "invalid", "error": "invalid line",
                           "errors": list(line.errors)})
            continue
        result = {key: value for key, value in by_line[line.number].items() if key != "index"}
        if result.get("code") == "invalid":
            result["error"] = "invalid line"
        report.append({"line": line.number, **result})
    counts = {kind: sum(1 for r in report if r["result"] == kind) for kind in ("applied", "duplicate", "refused")}
    return {"dry_run": dry_run, "lines": len(report), **counts, "results": report}


@router.get("/facts/csv/template", response_class=Response, tags=["progress"],
            responses={200: {"content": {"text/csv": {}}, "description": "The header and three example lines"}},
            summary="The CSV template: header and three example lines")
async def csv_template() -> Response:
    return Response(csv_import.TEMPLATE, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="progress-template.csv"'})
