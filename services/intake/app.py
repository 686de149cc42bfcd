"""Intake's wiring: the FastAPI app, with the outbox relay started and stopped in its lifespan."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.intake import handlers, pages, service
from services.intake.api import router
from services.intake.config import IntakeSettings
from services.intake.domain import DomainError
from services.intake.metrics import build_metrics
from shared.plumbing.http import install_http_basics
from shared.plumbing.observe import every
from shared.plumbing.pages import RememberLanguage
from shared.plumbing.runtime import Runtime

log = logging.getLogger(__name__)


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    metrics = build_metrics()
    runtime = Runtime(settings, "services.intake", metrics, refresh=metrics.refresh, consumes=handlers.TOPICS,
                      apply=handlers.apply, apply_many=handlers.apply_many, refusals=(DomainError,))

    async def purge() -> None:
        purged = await service.purge_expired_contacts(runtime.pool, settings.contact_retention_months)
        if purged:
            log.info("retention: contact details of %d learner(s) purged", purged)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await runtime.start()
        # Before the first request: programmes from before sessions existed get their first one.
        if await service.create_missing_first_sessions(runtime.pool):
            runtime.wake_relay()
        retention = asyncio.create_task(every(3600, "contact retention", purge, metrics))
        try:
            yield
        finally:
            retention.cancel()
            await runtime.stop()

    app = FastAPI(
        title="Parcours intake",
        description="The catalogue (centres, labelled programmes and their sessions), applications and "
        "admission decisions. Refusals answer a stable `code`, a sentence in `detail` and, when one input "
        "is at fault, its `field`. Listings carry no personal data.",
        version="1",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.settings = settings
    install_http_basics(app, runtime, metrics, settings.max_body_bytes, settings.auth_required)
    app.include_router(router)
    app.include_router(pages.router)
    app.add_middleware(RememberLanguage)
    app.state.page_logins = {"/centre": "/centre/login"}  # a centre's space and its sign-in
    return app
