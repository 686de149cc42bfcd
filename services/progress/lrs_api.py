"""The LRS's front door for statements (xAPI 1.0.3 and 2.0, the Statement resource): what a centre's
LMS or authoring tool, through its xAPI client library, posts and reads back.

POST answers 200 with the statements' ids, PUT ?statementId= 204, the same id with other content
409, an invalid statement 400 with nothing of its request stored; every answer carries the
X-Experience-API-Version header, every request must. What became of each statement (a fact
applied, ignored as no fact, or needing attention, with why) is behind the door:
GET /xapi/attention lists those waiting.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from services.progress import access, lrs, statements, statements_store
from services.progress.responses import AboutOut, AccountsOut, AttentionPage, StatementIds, StatementResult
from shared.plumbing import auth

router = APIRouter(dependencies=[Depends(auth.guard(access.POLICY))], tags=["xAPI (LRS)"])
MAX_STATEMENTS = 1000
HEADERS = {lrs.VERSION_HEADER: "1.0.3"}


def _pool(request: Request):
    return request.app.state.runtime.pool


def _answer(body: Any = None, status: int = 200) -> Response:
    if body is None:
        return Response(status_code=status, headers=HEADERS)
    return JSONResponse(body, status_code=status, headers=HEADERS)


def _refused(status: int, code: str, detail: str) -> Response:
    return _answer({"detail": detail, "code": code}, status)


def _version_refusal(request: Request) -> Response | None:
    if not lrs.supported_version(request.headers.get(lrs.VERSION_HEADER)):
        return _refused(400, "xapi_version", f"the {lrs.VERSION_HEADER} header is required: 1.0.x or 2.0.x")
    return None


@router.get("/xapi/about", summary="The xAPI versions this LRS speaks", response_model=AboutOut)
async def about() -> Response:
    return _answer({"version": list(lrs.VERSIONS)})


async def _store(request: Request, batch: list, put_id: str | None) -> Response | list[str]:
    if not batch or len(batch) > MAX_STATEMENTS:
        return _refused(400 if not batch else 413, "statement_count",
                        f"{len(batch)} statements: send 1 to {MAX_STATEMENTS:,} per request")
    try:
        statements.checked(batch, put_id)
        return await statements.store(_pool(request), auth.principal_of(request), batch, put_id)
    except statements.BadStatement as exc:
        return _refused(400, exc.code, str(exc))
    except statements.StatementConflict as exc:
        return _refused(409, exc.code, str(exc))


@router.post("/xapi/statements", summary="Store statements (one, or a list of up to 1,000): their ids",
             response_model=StatementIds)
async def post_statements(request: Request, body: Any = Body(...)) -> Response:
    refusal = _version_refusal(request)
    if refusal is not None:
        return refusal
    ids = await _store(request, body if isinstance(body, list) else [body], None)
    return ids if isinstance(ids, Response) else _answer(ids)


@router.put("/xapi/statements", status_code=204, summary="Store one statement under the id given",
            response_class=Response)
async def put_statement(request: Request, statementId: uuid.UUID = Query(...),  # noqa: N803 (xAPI's name)
                        body: Any = Body(...)) -> Response:
    refusal = _version_refusal(request)
    if refusal is not None:
        return refusal
    if not isinstance(body, dict):
        return _refused(400, "invalid_statement", "PUT takes one statement, a JSON object")
    ids = await _store(request, [body], str(statementId))
    return ids if isinstance(ids, Response) else _answer(status=204)


@router.get("/xapi/statements", summary="One statement, or the centre's statements, filtered and paged",
            response_model=StatementResult)
async def get_statements(
    request: Request,
    statementId: uuid.UUID | None = None,  # noqa: N803
    voidedStatementId: uuid.UUID | None = None,  # noqa: N803
    verb: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(100, ge=0, le=1000),
    after: str | None = Query(None, description="the cursor a previous page's `more` gives"),
) -> Response:
    refusal = _version_refusal(request)
    if refusal is not None:
        return refusal
    principal = auth.principal_of(request)
    if statementId is not None and voidedStatementId is not None:
        return _refused(400, "invalid_query", "statementId or voidedStatementId, not both")
    if statementId is not None or voidedStatementId is not None:
        try:
            found = await statements.one(_pool(request), principal, statementId or voidedStatementId,
                                         voided=voidedStatementId is not None)
        except statements.UnknownStatement as exc:
            return _refused(404, exc.code, str(exc))
        return _answer(found)
    cursor = _cursor(after)
    if after is not None and cursor is None:
        return _refused(400, "invalid_query", "after: not a cursor this LRS gave")
    page = limit or 1000
    async with _pool(request).acquire() as conn:
        rows = await statements_store.listed(conn, principal.centre_id if principal.role == "centre" else None,
                                             verb, since, until, cursor, page + 1)
    more = ""
    if len(rows) > page:
        rows = rows[:page]
        last = rows[-1]
        query = {k: v for k, v in request.query_params.items() if k != "after"}
        query["after"] = f"{last['stored_at'].isoformat()}|{last['statement_id']}"
        more = "/xapi/statements?" + "&".join(f"{k}={_quoted(v)}" for k, v in query.items())
    return _answer({"statements": [r["statement"] for r in rows], "more": more})


def _cursor(after: str | None) -> tuple | None:
    if after is None:
        return None
    try:
        moment, statement_id = after.split("|")
        return datetime.fromisoformat(moment), uuid.UUID(statement_id)
    except ValueError:
        return None


def _quoted(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


@router.get("/xapi/attention", summary="The centre's statements that need attention, and why",
            description="Valid statements kept but not placed yet: a learner not admitted (yet), a fact out of "
            "order, an actor without an LMS account Parcours knows... Oldest first.",
            response_model=AttentionPage)
async def attention(request: Request, limit: int = Query(100, ge=1, le=1000)) -> Response:
    principal = auth.principal_of(request)
    async with _pool(request).acquire() as conn:
        rows = await statements_store.attention(conn, principal.centre_id if principal.role == "centre" else None,
                                                limit)
    return _answer({"items": [{"statement_id": str(r["statement_id"]), "stored_at": r["stored_at"].isoformat(),
                               "code": r["code"], "reason": r["reason"], "statement": r["statement"]}
                              for r in rows]})



class AccountIn(BaseModel):
    actor: dict[str, Any] = Field(description="The LMS's actor: its account (homePage and name), or its mbox or "
                                              "mbox_sha1sum (an address is kept only as its SHA-1)")
    application_id: uuid.UUID = Field(description="The learner's admitted application, as intake answered it")


class AccountsIn(BaseModel):
    items: list[AccountIn] = Field(min_length=1, max_length=10_000)


@router.put("/xapi/accounts", response_model=AccountsOut,
            summary="Say which learner each of the LMS's accounts is",
            description="The statements of these accounts then become facts, those that waited for it included.")
async def map_accounts(body: AccountsIn, request: Request) -> dict:
    return await statements.map_accounts(_pool(request), auth.principal_of(request),
                                         [item.model_dump() for item in body.items])
