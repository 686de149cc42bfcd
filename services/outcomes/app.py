"""Outcomes's wiring: FastAPI app, batch consumers and outbox relay in one lifespan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi import FastAPI

from services.outcomes import centre_figures, dashboard, handlers, web
from services.outcomes.api import router
from services.outcomes.config import OutcomesSettings
from services.outcomes.domain import DomainError
from services.outcomes.handlers import Projector
from services.outcomes.metrics import build_metrics
from shared.contracts import calendar
from shared.plumbing.http import install_http_basics
from shared.plumbing.pages import RememberLanguage
from shared.plumbing.runtime import Runtime


def create_app(settings: OutcomesSettings | None = None, clock: Callable[[], date] = calendar.today) -> FastAPI:
    """`clock` gives today's civil date in Paris: the follow-ups' statuses and windows depend on it."""
    settings = settings or OutcomesSettings()
    metrics = build_metrics(clock)
    projector = Projector(settings.window_months_before, settings.window_months_after)
    runtime = Runtime(settings, "services.outcomes", metrics, refresh=metrics.refresh, consumes=handlers.TOPICS,
                      apply=projector.apply, apply_many=projector.apply_many, refusals=(DomainError,))

    app = FastAPI(title="Parcours outcomes", version="1", lifespan=runtime.lifespan,
                  description="Six-month follow-ups, outcomes and the network's key figures.")
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.clock = clock
    # Each group of pages and its sign-in (the most specific first).
    app.state.page_logins = {"/centre/figures": "/centre/figures/login", "/staff": "/staff/login",
                             "/manager": "/staff/login"}
    install_http_basics(app, runtime, metrics, settings.max_body_bytes, settings.auth_required)
    app.include_router(router)
    app.include_router(web.router)
    app.include_router(dashboard.router)
    app.include_router(centre_figures.router)
    app.add_middleware(RememberLanguage)
    return app
