"""Intake's metrics, on its own registry: the plumbing's, and applications by status."""

from __future__ import annotations

import asyncpg
from prometheus_client import CollectorRegistry, Gauge

from services.intake import store
from services.intake.domain import STATUSES
from shared.plumbing.metrics import PlumbingMetrics


class IntakeMetrics(PlumbingMetrics):
    def __init__(self) -> None:
        super().__init__(CollectorRegistry())
        self.applications = Gauge("parcours_applications", "Applications by current status (decision)",
                                  ["status"], registry=self.registry)

    async def refresh(self, pool: asyncpg.Pool) -> None:
        """Read from the database, so the figure is right across restarts and instances."""
        async with pool.acquire() as conn:
            counts = await store.count_by_status(conn)
        for status in STATUSES:
            self.applications.labels(status).set(counts.get(status, 0))


def build_metrics() -> IntakeMetrics:
    return IntakeMetrics()
