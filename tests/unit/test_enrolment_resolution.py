"""Which enrolment a fact belongs to when it does not say (services/progress/domain.resolve)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.progress import domain
from services.progress.domain import Candidate, Enrolment


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


FIRST, SECOND = uuid.uuid4(), uuid.uuid4()
DROPPED = Enrolment("exited", started_at=at("2020-03-02"), exited_at=at("2020-04-10"), exit_reason="dropped_out")
STARTED_AGAIN = Enrolment("started", started_at=at("2020-09-07"))
ADMITTED = Enrolment("admitted")


def test_a_single_enrolment_takes_every_fact():
    only = [Candidate(FIRST, FIRST, ADMITTED)]
    assert domain.resolve(only, "attendance", at("2021-01-01")) == FIRST  # the state machine refuses it later


@pytest.mark.parametrize(("fact", "day", "expected"), [
    ("started", "2020-09-07", SECOND),  # the one not started yet
    ("attendance", "2020-03-31", FIRST),  # within the first training: a late fact
    ("exited", "2021-03-05", SECOND),
])
def test_re_admitted_after_a_drop_out_each_fact_finds_its_enrolment(fact, day, expected):
    candidates = [Candidate(FIRST, FIRST, DROPPED), Candidate(SECOND, SECOND, ADMITTED)]
    if fact != "started":
        candidates[1] = Candidate(SECOND, SECOND, STARTED_AGAIN)
    assert domain.resolve(candidates, fact, at(day)) == expected


def test_two_admissions_not_started_make_a_start_ambiguous_until_one_is_named():
    candidates = [Candidate(FIRST, FIRST, ADMITTED), Candidate(SECOND, SECOND, ADMITTED)]
    with pytest.raises(domain.AmbiguousEnrolment, match="give enrolment_id") as refused:
        domain.resolve(candidates, "started", at("2020-03-02"))
    assert str(FIRST) in str(refused.value) and str(SECOND) in str(refused.value)
    assert domain.resolve(candidates, "started", at("2020-03-02"), application_id=SECOND) == SECOND
    assert domain.resolve(candidates, "started", at("2020-03-02"), enrolment_id=FIRST) == FIRST


def test_a_no_show_takes_no_fact_and_an_unknown_enrolment_is_refused():
    candidates = [Candidate(FIRST, FIRST, Enrolment("no_show")), Candidate(SECOND, SECOND, ADMITTED)]
    assert domain.resolve(candidates, "started", at("2020-03-02")) == SECOND
    with pytest.raises(domain.NotAdmitted):
        domain.resolve(candidates, "started", at("2020-03-02"), enrolment_id=uuid.uuid4())
    with pytest.raises(domain.NotAdmitted):
        domain.resolve([], "started", at("2020-03-02"))
