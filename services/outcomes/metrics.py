"""Outcomes's metrics: the plumbing's, follow-ups by state, outcomes by situation, and the
positive exit rate of the current year."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date

import asyncpg
from prometheus_client import CollectorRegistry, Gauge

from services.outcomes import service, store
from shared.contracts import calendar
from shared.contracts.vocabulary import FOLLOWUP_STATUSES, SITUATIONS
from shared.plumbing.metrics import PlumbingMetrics

KEY_COUNTS = ("applications_submitted", "applications_admitted", "learners_started",
              "learners_trained_or_in_training", "exits_total", "followups_in_scope", "outcomes_recorded")


class OutcomesMetrics(PlumbingMetrics):
    def __init__(self, clock: Callable[[], date] = calendar.today) -> None:
        super().__init__(CollectorRegistry())
        self.clock = clock
        self.followups = Gauge("parcours_followups", "Follow-ups by state (due and overdue from today's date)",
                               ["status"], registry=self.registry)
        self.outcomes = Gauge("parcours_outcomes", "Current outcome of each follow-up, by situation",
                              ["situation"], registry=self.registry)
        self.positive_exit_rate = Gauge(
            "parcours_positive_exit_rate_ratio",
            "Positive exit rate at six months of the current year's exit cohort (NaN while nothing is known)",
            ["definition"], registry=self.registry)
        self.key_counts = Gauge("parcours_key_figure", "Key-figure counts of the current year (definitions v1)",
                                ["figure"], registry=self.registry)
        self.key_rates = Gauge("parcours_key_rate_ratio",
                               "Key-figure rates of the current year (NaN when the denominator is 0)",
                               ["rate"], registry=self.registry)

    async def refresh(self, pool: asyncpg.Pool) -> None:
        today = self.clock()
        async with pool.acquire() as conn:
            followups = await store.followups_by_status(conn, today)
            situations = await store.current_outcomes_by_situation(conn)
        for status in FOLLOWUP_STATUSES:
            self.followups.labels(status).set(followups.get(status, 0))
        for situation in SITUATIONS:
            self.outcomes.labels(situation).set(situations.get(situation, 0))
        figures = await service.key_figures(pool, today.year)
        for definition, rate in figures["rates"]["positive_exit_rate"].items():
            self.positive_exit_rate.labels(definition).set(_value(rate))
        for figure in KEY_COUNTS:
            self.key_counts.labels(figure).set(figures["counts"][figure])
        for name, rate in figures["rates"].items():
            if "denominator" in rate:
                self.key_rates.labels(name).set(_value(rate))


def _value(rate: dict) -> float:
    return math.nan if rate["value"] is None else rate["value"]


def build_metrics(clock: Callable[[], date] = calendar.today) -> OutcomesMetrics:
    return OutcomesMetrics(clock)
