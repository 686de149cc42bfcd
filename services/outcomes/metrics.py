"""Outcomes's metrics: the plumbing's and follow-ups by state.

/metrics is read without a key, so the network's key figures, rates and the distribution of
outcomes are not exported here: they are a manager's to read, at /key-figures. Follow-ups by
state stay, being the staff's workload that ops alert on, and counts with no person in them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import asyncpg
from prometheus_client import CollectorRegistry, Gauge

from services.outcomes import store
from shared.contracts import calendar
from shared.contracts.vocabulary import FOLLOWUP_STATUSES
from shared.plumbing.metrics import PlumbingMetrics


class OutcomesMetrics(PlumbingMetrics):
    def __init__(self, clock: Callable[[], date] = calendar.today) -> None:
        super().__init__(CollectorRegistry())
        self.clock = clock
        self.followups = Gauge("parcours_followups", "Follow-ups by state (due and overdue from today's date)",
                               ["status"], registry=self.registry)

    async def refresh(self, pool: asyncpg.Pool) -> None:
        today = self.clock()
        async with pool.acquire() as conn:
            followups = await store.followups_by_status(conn, today)
        for status in FOLLOWUP_STATUSES:
            self.followups.labels(status).set(followups.get(status, 0))


def build_metrics(clock: Callable[[], date] = calendar.today) -> OutcomesMetrics:
    return OutcomesMetrics(clock)
