"""Progress's metrics, on its own registry: the plumbing's, learners in training, exits by reason."""

from __future__ import annotations

import asyncpg
from prometheus_client import CollectorRegistry, Gauge

from services.progress import store
from shared.contracts.vocabulary import ENROLMENT_STATES, EXIT_REASONS
from shared.plumbing.metrics import PlumbingMetrics


class ProgressMetrics(PlumbingMetrics):
    def __init__(self) -> None:
        super().__init__(CollectorRegistry())
        self.in_training = Gauge("parcours_learners_in_training",
                                 "Enrolments started and not exited (interrupted included)", registry=self.registry)
        self.enrolments = Gauge("parcours_enrolments", "Enrolments by state", ["state"], registry=self.registry)
        self.exits = Gauge("parcours_exits", "Exits from training by reason, all years", ["reason"],
                           registry=self.registry)

    async def refresh(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            states = await store.summary(conn)
            exits = await store.exits_by_reason(conn)
        for state in ENROLMENT_STATES:
            self.enrolments.labels(state).set(states.get(state, 0))
        self.in_training.set(states.get("started", 0) + states.get("interrupted", 0))
        for reason in EXIT_REASONS:
            self.exits.labels(reason).set(exits.get(reason, 0))


def build_metrics() -> ProgressMetrics:
    return ProgressMetrics()
