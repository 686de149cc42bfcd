"""Progress's metrics, on its own registry: the plumbing's, enrolments by state and learners in
training (the work in progress). Exits by reason are a key figure, read with a manager's key at
outcomes' /key-figures, not on the unauthenticated /metrics (security review, finding 6)."""

from __future__ import annotations

import asyncpg
from prometheus_client import CollectorRegistry, Gauge

from services.progress import statements_store, store
from shared.contracts.vocabulary import ENROLMENT_STATES
from shared.plumbing.metrics import PlumbingMetrics


class ProgressMetrics(PlumbingMetrics):
    def __init__(self) -> None:
        super().__init__(CollectorRegistry())
        self.in_training = Gauge("parcours_learners_in_training",
                                 "Enrolments started and not exited (interrupted included)", registry=self.registry)
        self.enrolments = Gauge("parcours_enrolments", "Enrolments by state", ["state"], registry=self.registry)
        self.xapi_waiting = Gauge("parcours_xapi_statements_waiting",
                                  "xAPI statements kept but not placed yet: they need a centre's attention",
                                  registry=self.registry)

    async def refresh(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            states = await store.summary(conn)
            waiting = await statements_store.count_attention(conn)
        self.xapi_waiting.set(waiting)
        for state in ENROLMENT_STATES:
            self.enrolments.labels(state).set(states.get(state, 0))
        self.in_training.set(states.get("started", 0) + states.get("interrupted", 0))


def build_metrics() -> ProgressMetrics:
    return ProgressMetrics()
