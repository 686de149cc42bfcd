"""The LRS's front door for statements (xAPI 1.0.3 and 2.0, the Statement and About resources): what
a centre's LMS or authoring tool, through its xAPI client library, posts and reads back.

POST answers 200 with the statements' ids, PUT ?statementId= 204, the same id with other content
409, an invalid statement or query 400 with nothing of its request stored. Every answer carries the
X-Experience-API-Version header (the request's version, else the latest spoken), every request but
GET /xapi/about must; every answer to GET carries X-Experience-API-Consistent-Through. HEAD, where
the access policy names it, is answered as GET without the body. What became of each statement (a
fact applied, ignored as no fact, or needing attention, with why) is behind the door: GET
/xapi/attention lists those waiting.

A centre reads its own statements only. Attachments are taken by their fileUrl only: this LRS
keeps no attachment data (a file could hold what Parcours must not keep), so a request sending
some is refused 400, and GET ?attachments=true answers the multipart form with the statements alone.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from pydantic_core import from_json

from services.progress import access, lrs, statements, statements_store
from services.progress.responses import AboutOut, AccountsOut, AttentionPage, StatementIds, StatementResult
from shared.plumbing import auth

MAX_STATEMENTS = 1000
XAPI_RESOURCES = frozenset({"/xapi/statements", "/xapi/about"})
STATEMENTS_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}},
    "multipart/mixed": {"schema": {"type": "string", "description": "the statements as the first part, "
                                                                  "application/json; no attachment data"}}}}}


class XapiRoute(APIRoute):
    """An xAPI resource's route: every answer with the version header (and a GET's with the
    consistency one), even a refusal from the door's guard; a request the framework cannot read
    answered 400, as xAPI says, not 422; and HEAD answered as GET without the body."""

    def get_route_handler(self) -> Callable:
        handle = super().get_route_handler()
        xapi = self.path in XAPI_RESOURCES

        async def handler(request: Request) -> Response:
            now = datetime.now(UTC)  # every statement acknowledged before this is in what a GET sees
            try:
                response = await handle(request)
            except Exception as exc:
                answer = _handler_for(request, exc)
                if xapi and isinstance(exc, RequestValidationError):
                    response = _refused(400, "invalid_request", _first_error(exc))
                elif answer is not None:
                    response = await answer(request, exc)
                else:
                    raise
            return _finished(request, response, now)

        return handler


def _handler_for(request: Request, exc: Exception):
    """The app's own answer to an exception (401, 403, 503...), to be given the xAPI headers."""
    handlers = request.app.exception_handlers
    return next((handlers[kind] for kind in type(exc).__mro__ if kind in handlers), None)


def _first_error(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "the request cannot be read"
    where = ".".join(str(p) for p in errors[0].get("loc", ()))
    return f"{where}: {errors[0].get('msg', 'invalid')}"


def _finished(request: Request, response: Response, now: datetime) -> Response:
    response.headers[lrs.VERSION_HEADER] = lrs.answer_version(request.headers.get(lrs.VERSION_HEADER))
    route = request.scope.get("route")
    if request.method in ("GET", "HEAD") and getattr(route, "path", "") == "/xapi/statements":
        response.headers[lrs.CONSISTENT_HEADER] = _moment(now)
    if request.method == "HEAD":  # the GET's headers, its length included, without its body
        return Response(status_code=response.status_code, headers=dict(response.headers))
    return response


router = APIRouter(dependencies=[Depends(auth.guard(access.POLICY))], tags=["xAPI (LRS)"], route_class=XapiRoute)


def _head_too(path: str, endpoint) -> None:
    """HEAD answered as GET (xAPI Communication 1.1) where the access policy names it for the path;
    left out of the OpenAPI document, where it would repeat the GET's operation."""
    if ("HEAD", path) in access.POLICY:
        router.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)


def _pool(request: Request):
    return request.app.state.runtime.pool


def _moment(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _answer(body: Any = None, status: int = 200, headers: dict | None = None) -> Response:
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def _refused(status: int, code: str, detail: str) -> Response:
    return _answer({"detail": detail, "code": code}, status)


def _version_refusal(request: Request) -> Response | None:
    if not lrs.supported_version(request.headers.get(lrs.VERSION_HEADER)):
        return _refused(400, "xapi_version", f"the {lrs.VERSION_HEADER} header is required: 1.0.x or 2.0.x")
    return None


@router.get("/xapi/about", summary="The xAPI versions this LRS speaks", response_model=AboutOut)
async def about() -> Response:
    return _answer({"version": list(lrs.VERSIONS)})


_head_too("/xapi/about", about)


class BodyUnreadable(ValueError):
    """The request's body is not statements in a form this LRS takes: 400."""


async def _statements_of(request: Request) -> Any:
    """The JSON a PUT or POST carries, as application/json or as the first part of multipart/mixed."""
    kind, _, params = request.headers.get("content-type", "application/json").partition(";")
    body = await request.body()
    if kind.strip().lower() == "multipart/mixed":
        body = _first_part(body, params)
    elif kind.strip().lower() != "application/json":
        raise BodyUnreadable("statements come as application/json (or multipart/mixed)")
    try:
        return from_json(body, allow_inf_nan=False)  # NaN and Infinity are no JSON
    except (ValueError, UnicodeDecodeError):
        raise BodyUnreadable("the request body is not valid JSON (check its syntax and that it is UTF-8)") from None


def _first_part(body: bytes, params: str) -> bytes:
    """The statements of a multipart/mixed body, which must have no other part: an attachment's
    data would be one, and this LRS keeps none (attachments are taken by fileUrl)."""
    boundary = re.search(r'boundary="?([^";]+)"?', params)
    if boundary is None:
        raise BodyUnreadable("multipart/mixed needs its boundary in the Content-Type header")
    parts = body.split(b"--" + boundary[1].encode())
    if len(parts) < 3 or not parts[-1].startswith(b"--"):
        raise BodyUnreadable("multipart/mixed: the body does not follow its boundary")
    if len(parts) > 3:
        raise BodyUnreadable("this LRS keeps no attachment data: refer to each attachment by its fileUrl")
    head, _, content = parts[1].lstrip(b"\r\n").partition(b"\r\n\r\n")
    if b"application/json" not in head.lower():
        raise BodyUnreadable("multipart/mixed: the first part is the statements, application/json")
    return content.rstrip(b"\r\n")


async def _store(request: Request, batch: list, put_id: str | None) -> Response | list[str]:
    if not batch or len(batch) > MAX_STATEMENTS:
        return _refused(400 if not batch else 413, "statement_count",
                        f"{len(batch)} statements: send 1 to {MAX_STATEMENTS:,} per request")
    try:
        statements.checked(batch, put_id)
        if any(lrs.raw_attachments(s) for s in batch):
            return _refused(400, "attachment_data", "an attachment without fileUrl needs its data in the request, "
                                                    "and this LRS keeps none: refer to it by its fileUrl")
        return await statements.store(_pool(request), auth.principal_of(request), batch, put_id)
    except statements.BadStatement as exc:
        return _refused(400, exc.code, str(exc))
    except statements.StatementConflict as exc:
        return _refused(409, exc.code, str(exc))


async def _received(request: Request, allowed: set[str]) -> Response | Any:
    """The request's statements, or the answer refusing it (version, parameters, body)."""
    refusal = _version_refusal(request)
    if refusal is not None:
        return refusal
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        return _refused(400, "invalid_query", f"unknown parameter {unknown[0]!r} (names are case-sensitive)")
    try:
        return await _statements_of(request)
    except BodyUnreadable as exc:
        return _refused(400, "unreadable_body", str(exc))


@router.post("/xapi/statements", summary="Store statements (one, or a list of up to 1,000): their ids",
             response_model=StatementIds, openapi_extra=STATEMENTS_BODY)
async def post_statements(request: Request) -> Response:
    body = await _received(request, set())
    if isinstance(body, Response):
        return body
    ids = await _store(request, body if isinstance(body, list) else [body], None)
    return ids if isinstance(ids, Response) else _answer(ids)


@router.put("/xapi/statements", status_code=204, summary="Store one statement under the id given",
            response_class=Response, openapi_extra=STATEMENTS_BODY)
async def put_statement(request: Request,
                        statementId: str = Query(..., description="the statement's id (UUID)")  # noqa: N803
                        ) -> Response:
    body = await _received(request, {"statementId"})
    if isinstance(body, Response):
        return body
    if not lrs.UUID.match(statementId):
        return _refused(400, "invalid_query", "statementId: must be a UUID")
    if not isinstance(body, dict):
        return _refused(400, "invalid_statement", "PUT takes one statement, a JSON object")
    ids = await _store(request, [body], statementId)
    return ids if isinstance(ids, Response) else _answer(status=204)


@router.get("/xapi/statements",
            summary="One statement, or the centre's statements, filtered and paged",
            description="statementId or voidedStatementId (with format and attachments only), or the "
            "filters agent, verb, activity, registration, related_activities, related_agents, since, until; "
            "limit, ascending (newest first by default), format (exact, ids, canonical), attachments. A "
            "statement referring to one that matches a filter matches it too; voided statements are given "
            "only by voidedStatementId. `more` is the next page's address, empty at the end.",
            response_model=StatementResult)
async def get_statements(request: Request) -> Response:
    refusal = _version_refusal(request)
    if refusal is not None:
        return refusal
    try:
        query = lrs.read_query(list(request.query_params.multi_items()))
    except lrs.StatementInvalid as exc:
        return _refused(400, "invalid_query", str(exc))
    languages = lrs.accepted_languages(request.headers.get("accept-language"))
    if query.statement_id is not None:
        try:
            found = await statements.one(_pool(request), auth.principal_of(request), uuid.UUID(query.statement_id),
                                         voided=query.voided)
        except statements.UnknownStatement as exc:
            return _refused(404, exc.code, str(exc))
        stored = datetime.fromisoformat(found["stored"].replace("Z", "+00:00"))
        return _given(lrs.shown(found, query.format, languages), query.attachments,
                      {"Last-Modified": format_datetime(stored.astimezone(UTC), usegmt=True)})
    rows = await _page(request, query)
    more = ""
    if len(rows) > query.limit:
        rows = rows[:query.limit]
        more = _more(request, rows[-1])
    result = {"statements": [lrs.shown(r["statement"], query.format, languages) for r in rows], "more": more}
    return _given(result, query.attachments)


_head_too("/xapi/statements", get_statements)


async def _page(request: Request, query: lrs.Query) -> list[dict]:
    principal = auth.principal_of(request)
    after = (query.after[0], uuid.UUID(query.after[1])) if query.after else None
    filters = {
        "verb": query.verb,
        "agent": lrs.agent_patterns(query.agent, query.related_agents) if query.agent else None,
        "activity": lrs.activity_patterns(query.activity, query.related_activities) if query.activity else None,
        "registration": lrs.registration_pattern(query.registration) if query.registration else None,
    }
    async with _pool(request).acquire() as conn:
        return await statements_store.listed(
            conn, principal.centre_id if principal.role == "centre" else None, since=query.since,
            until=query.until, after=after, limit=query.limit + 1, ascending=query.ascending, **filters)


def _more(request: Request, last: dict) -> str:
    """The next page's address: the same query, after the last statement of this one."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
    params.append(("after", f"{last['stored_at'].isoformat()}|{last['statement_id']}"))
    return f"{request.url.path}?{urlencode(params)}"


def _given(body: dict, attachments: bool, headers: dict | None = None) -> Response:
    """The answer to a GET: JSON, or with attachments=true the multipart form, whose only part is
    the JSON since no attachment data is kept."""
    if not attachments:
        return _answer(body, headers=headers)
    boundary = uuid.uuid4().hex
    content = (f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{json.dumps(body)}\r\n"
               f"--{boundary}--\r\n")
    return Response(content, media_type=f'multipart/mixed; boundary="{boundary}"', headers=headers)


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
