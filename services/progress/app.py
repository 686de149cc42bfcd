"""Progress's wiring: FastAPI app, batch consumers and outbox relay in one lifespan."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.progress import handlers, imports_api, lrs_api, pages, statements
from services.progress.api import router
from services.progress.config import ProgressSettings
from services.progress.domain import DomainError
from services.progress.metrics import build_metrics
from shared.plumbing.http import install_http_basics
from shared.plumbing.observe import every
from shared.plumbing.pages import RememberLanguage
from shared.plumbing.runtime import Runtime


def create_app(settings: ProgressSettings | None = None) -> FastAPI:
    settings = settings or ProgressSettings()
    metrics = build_metrics()
    runtime = Runtime(settings, "services.progress", metrics, refresh=metrics.refresh, consumes=handlers.TOPICS,
                      apply=handlers.apply, apply_many=handlers.apply_many, refusals=(DomainError,))

    async def retry() -> None:
        if await statements.retry_due(runtime.pool):
            runtime.wake_relay()  # the facts they became have events to publish

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await runtime.start()
        retrying = asyncio.create_task(every(settings.xapi_retry_seconds, "xapi statements retried", retry, metrics))
        try:
            yield
        finally:
            retrying.cancel()
            await runtime.stop()

    app = FastAPI(title="Parcours progress", version="1", lifespan=lifespan,
                  description="Enrolments and training facts posted by the centres.")
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.page_logins = {"/centre": "/centre/progress/login"}  # a centre's space and its sign-in
    install_http_basics(app, runtime, metrics, settings.max_body_bytes, settings.auth_required)
    app.include_router(router)
    app.include_router(imports_api.router)
    app.include_router(lrs_api.router)
    app.include_router(pages.router)
    app.add_middleware(RememberLanguage)
    return app
