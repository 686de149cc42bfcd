"""Progress's import routes: a centre's spreadsheet (CSV) and an LMS's xAPI statements.

Both only translate their input into FactIn bodies and hand them to the same batch as
POST /facts/batch: one result per line or statement, each applied or refused on its own.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from services.progress import access, csv_import, xapi
from services.progress.domain import DomainError
from services.progress.responses import CsvReport, StatementsOut
from services.progress.schemas import FactIn
from shared.plumbing import auth
from shared.plumbing.batch import run_batch_at_once, summarise
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


class _Lent:
    """A pool that lends one connection, already inside a transaction, to run_batch_at_once."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @asynccontextmanager
    async def acquire(self):
        yield self._conn


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
            return await run_batch_at_once(_Lent(conn), items, FactIn, post, (DomainError, *access.REFUSALS))
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
        lines = csv_import.parse(data)
    except csv_import.TooManyLines as exc:
        return problem(413, exc.code, str(exc))
    except csv_import.CsvFileError as exc:
        return problem(422, exc.code, str(exc))
    readable = [line for line in lines if not line.errors]
    applied = await _apply(_pool(request), [line.item for line in readable], dry_run, auth.principal_of(request))
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


@router.post(
    "/xapi/statements", response_model=StatementsOut, response_model_exclude_none=True,
    responses=problems(413, 422), tags=["progress"],
    summary="Post xAPI statements (one, or a list of up to 1,000), each with its own result",
    description="The learner is actor.account.name (the id of her admitted application, as intake answered "
    "it; e-mail addresses are refused), the "
    f"programme context.extensions[{xapi.PROGRAMME_ID}], the moment timestamp (with an offset), and the "
    "statement id the fact's event_id, so re-sending a statement answers duplicate. Verbs: initialized → started, "
    "attended → attendance (hours from result.duration), progressed → milestone, completed / passed / failed → "
    "exited completed / certified / not_certified, terminated → exited dropped_out, suspended → interrupted, "
    "resumed → resumed; a state change needs the programme as object (activity type course), otherwise completed, "
    "passed and failed are milestones and the others are refused. Details in docs/progress-import.md.",
)
async def post_statements(request: Request, body: Any = Body(...)):
    statements = body if isinstance(body, list) else [body]
    if not isinstance(body, list | dict) or not statements:
        return problem(422, "invalid", "the body must be an xAPI statement or a non-empty list of statements")
    if len(statements) > MAX_STATEMENTS:
        return problem(413, "too_many_statements",
                       f"{len(statements)} statements: at most {MAX_STATEMENTS:,} per request, split them")
    results: list[dict | None] = [None] * len(statements)
    places, items = [], []
    for index, statement in enumerate(statements):
        try:
            items.append(xapi.to_fact(statement))
            places.append(index)
        except xapi.MappingError as exc:
            results[index] = {"index": index, "result": "refused", "code": exc.code, "error": str(exc)}
    applied = await _apply(_pool(request), items, False, auth.principal_of(request))
    for index, result in zip(places, applied, strict=True):
        for error in result.get("errors", ()):
            if error["field"] in xapi.SOURCES:
                error["source"] = xapi.SOURCES[error["field"]]
        results[index] = {**result, "index": index}
    for index, statement in enumerate(statements):
        if isinstance(statement, dict) and isinstance(statement.get("id"), str):
            results[index] = {"statement_id": statement["id"], **results[index]}
    return summarise(results)
