"""HTTP basics every service shares: health, metrics, request metrics, and honest error statuses."""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.plumbing.auth import Forbidden, KeyChecker, Unauthenticated
from shared.plumbing.batch import describe_errors
from shared.plumbing.db import TRANSIENT_DB_ERRORS
from shared.plumbing.metrics import PlumbingMetrics
from shared.refusals import Invalid, Missing, Refusal

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "5"


def install_http_basics(app: FastAPI, runtime, metrics: PlumbingMetrics, max_body_bytes: int,
                        auth_required: bool = True) -> None:
    """Health and metrics routes, request metrics, body limit, API keys, and error mapping."""
    app.state.keys = KeyChecker(lambda request: request.app.state.runtime.pool, auth_required)
    _install_health(app, runtime, metrics)
    app.add_middleware(RequestMetrics, metrics=metrics, max_body_bytes=max_body_bytes)
    for exc_class in TRANSIENT_DB_ERRORS:
        app.add_exception_handler(exc_class, database_unavailable)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, unreadable_body)
    app.add_exception_handler(Unauthenticated, unauthenticated)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(Refusal, refused)


def _install_health(app: FastAPI, runtime, metrics: PlumbingMetrics) -> None:
    @app.get("/health/live", tags=["health"], summary="The process is alive")
    async def live() -> dict:
        return {"status": "live"}

    @app.get("/health/ready", tags=["health"], summary="Database reachable and consumers assigned")
    async def ready() -> Response:
        db = await runtime.database_ok()
        consumers = runtime.consumers_assigned()
        body = {"status": "ready" if db and consumers else "not_ready",
                "database": db, "consumers_assigned": consumers}
        return JSONResponse(body, status_code=200 if db and consumers else 503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable during %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "the database is unavailable; nothing was stored, retry later"},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Name each field and what is wrong with it; do not echo the input back.
    errors = describe_errors(exc.errors())
    return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)


async def unreadable_body(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    # FastAPI's own words for a body that is not JSON at all say nothing a client can act on.
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        return JSONResponse({"detail": "the request body is not valid JSON (check its syntax, its encoding "
                                       "is UTF-8, and it is not nested too deeply)", "code": "unreadable_body"},
                            status_code=400)
    code = {413: "body_too_large"}.get(exc.status_code)
    return JSONResponse({"detail": exc.detail, **({"code": code} if code else {})}, status_code=exc.status_code,
                        headers=exc.headers)


async def unauthenticated(request: Request, exc: Unauthenticated):
    # A person at a page, rather than a program at the API: to the sign-in form of those pages.
    path = request.url.path
    for prefix, login in getattr(request.app.state, "page_logins", {}).items():
        if request.method == "GET" and (path == prefix or path.startswith(prefix + "/")):
            return RedirectResponse(login, status_code=303)
    return JSONResponse({"detail": str(exc), "code": "unauthenticated"}, status_code=401,
                        headers={"WWW-Authenticate": 'Bearer, Basic realm="parcours"'})


async def forbidden(request: Request, exc: Forbidden) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "code": "forbidden"}, status_code=403)


class RequestMetrics:
    """Counts and times every request by route template, and refuses bodies over the limit.

    Plain ASGI rather than FastAPI's @middleware("http"), which runs every request in an extra
    task through memory streams: that cost more than a small route itself.
    """

    def __init__(self, app, metrics: PlumbingMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self._too_large = f"request body larger than {max_body_bytes} bytes"

    def _counting(self, receive):
        """`receive` for a body of unknown length (chunked): counted as it is read, and refused with 413
        the moment it passes the limit, before any route (or its authentication) has seen it whole.
        Raised as an HTTPException so that FastAPI's body reading passes it on unchanged."""
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise StarletteHTTPException(413, self._too_large)
            return message

        return counted

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            response = JSONResponse({"detail": self._too_large, "code": "body_too_large"}, status_code=413)
            await response(scope, receive, send)
            return
        if length is None:
            receive = self._counting(receive)
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler becomes a 500

        async def send_and_note(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.http_requests.labels(method, template, str(status)).inc()
            self.metrics.http_seconds.labels(method, template).observe(time.perf_counter() - started)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def problem(status: int, code: str, message: str, **extra) -> JSONResponse:
    """A 4xx answer a client can act on: a stable code and a sentence."""
    return JSONResponse({"detail": message, "code": code, **extra}, status_code=status)


# Each kind of refusal and its status, the most specific first: the only place a rule's refusal
# meets HTTP.
STATUS_OF_REFUSAL: tuple[tuple[type[Refusal], int], ...] = ((Missing, 404), (Invalid, 422), (Refusal, 409))


def status_of(exc: Refusal) -> int:
    return next(status for kind, status in STATUS_OF_REFUSAL if isinstance(exc, kind))


def refusal(exc: Refusal) -> JSONResponse:
    """A rule's refusal as an answer: its status by kind, its code, its sentence, the field at fault."""
    field = getattr(exc, "field", None)
    return problem(status_of(exc), exc.code, str(exc), **({"field": field} if field else {}))


async def refused(request: Request, exc: Refusal) -> JSONResponse:
    return refusal(exc)
