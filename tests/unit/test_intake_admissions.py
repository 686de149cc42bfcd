"""A session's places and waitlist, decided in memory: capacity, the order of the waitlist, the
moment of a promotion, and a batch's later decisions seeing the earlier ones."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.intake import domain, service
from services.intake.admission import WAITLIST_ACTOR, Admissions, DecisionBeforeSubmission, UnknownApplication
from services.intake.schemas import DecisionItemIn
from shared.plumbing.http import status_of
from tests.unit.fakes import FakeIntakeUnit

SESSION = uuid.uuid4()
T0 = datetime(2020, 6, 1, 9, tzinfo=UTC)


def application(status="submitted", minutes=0, decided=None, learner=None) -> dict:
    return {"application_id": uuid.uuid4(), "session_id": SESSION, "programme_id": uuid.uuid4(),
            "learner_id": learner or uuid.uuid4(), "status": status, "reason": None,
            "submitted_at": T0, "recorded_at": T0 + timedelta(minutes=minutes),
            "decided_at": decided or (T0 + timedelta(minutes=minutes) if status != "submitted" else None)}


def admissions(apps: list[dict], capacity: int, birth_years: dict | None = None) -> Admissions:
    admitted = sum(a["status"] == "admitted" for a in apps)
    batch = Admissions({SESSION: {"capacity": capacity, "start_date": date(2020, 9, 1)}}, {SESSION: admitted},
                       {a["application_id"]: a for a in apps})
    batch.add_waitlists([SESSION], [a for a in apps if a["status"] == "waitlisted"])
    batch.birth_years = birth_years or {}
    return batch


def test_the_last_place_is_taken_once_and_the_next_admission_is_refused():
    a, b = application(), application()
    batch = admissions([a, b], capacity=1)
    first = batch.decide(a["application_id"], "admitted", None, T0 + timedelta(days=1), "centre")
    assert first["changed"] and first["application"]["status"] == "admitted"
    with pytest.raises(domain.CapacityReached):
        batch.decide(b["application_id"], "admitted", None, T0 + timedelta(days=1), "centre")
    assert batch.admitted[SESSION] == 1 and list(batch.changed) == [a["application_id"]]


def test_a_freed_place_goes_to_the_earliest_waitlisted_never_before_they_were_waitlisted():
    admitted = application("admitted", minutes=1)
    later = application("waitlisted", minutes=1, decided=T0 + timedelta(days=4))
    earliest = application("waitlisted", minutes=20, decided=T0 + timedelta(days=3))
    tie_recorded_first = application("waitlisted", minutes=5, decided=T0 + timedelta(days=3))
    batch = admissions([admitted, later, earliest, tie_recorded_first], capacity=1)
    freed_at = T0 + timedelta(days=2)  # before the candidates were waitlisted
    outcome = batch.decide(admitted["application_id"], "withdrawn", None, freed_at, "centre")
    promoted = batch.applications[outcome["promoted"]]
    assert outcome["promoted"] == tie_recorded_first["application_id"]  # same day: recorded first
    assert promoted["status"] == "admitted" and promoted["decided_at"] == T0 + timedelta(days=3)
    assert batch.transitions[-1][-1] == WAITLIST_ACTOR
    assert [a["status"] for a, _ in batch.decided] == ["withdrawn", "admitted"]
    assert batch.admitted[SESSION] == 1


def test_a_batch_sees_its_own_earlier_decisions():
    a, b, c = application(), application(), application()
    batch = admissions([a, b, c], capacity=1)
    day = T0 + timedelta(days=1)
    batch.decide(a["application_id"], "admitted", None, day, "centre")
    batch.decide(b["application_id"], "waitlisted", None, day, "centre")
    batch.decide(c["application_id"], "waitlisted", None, day + timedelta(hours=1), "centre")
    freed = batch.decide(a["application_id"], "withdrawn", None, day + timedelta(days=1), "centre")
    assert freed["promoted"] == b["application_id"]
    again = batch.decide(b["application_id"], "admitted", None, day + timedelta(days=2), "centre")
    assert again["changed"] is False  # repeating the current decision changes nothing
    assert batch.waiting[SESSION] == {c["application_id"]}


def test_an_admission_carries_the_age_band_at_the_sessions_start():
    learner = uuid.uuid4()
    a = application(learner=learner)
    batch = admissions([a], capacity=5, birth_years={learner: 1995})
    batch.decide(a["application_id"], "admitted", None, T0 + timedelta(days=1), "centre")
    [(_, band)] = batch.decided
    assert band == "under_26"  # 25 in 2020, the session's year


def test_unknown_applications_and_decisions_before_the_submission_are_refused_by_kind():
    a = application()
    batch = admissions([a], capacity=5)
    with pytest.raises(UnknownApplication) as unknown:
        batch.decide(uuid.uuid4(), "admitted", None, T0, "centre")
    with pytest.raises(DecisionBeforeSubmission) as early:
        batch.decide(a["application_id"], "admitted", None, T0 - timedelta(days=1), "centre")
    assert status_of(unknown.value) == 404 and status_of(early.value) == 422
    assert early.value.field == "decided_at"
    assert not batch.changed and not batch.decided


# --- the whole use case, on the in-memory unit -----------------------------------------

def _unit(capacity: int, n: int, **birth) -> tuple[FakeIntakeUnit, list[dict]]:
    unit = FakeIntakeUnit()
    unit.sessions[SESSION] = {"capacity": capacity, "start_date": date(2020, 9, 1)}
    apps = [application(minutes=i) for i in range(n)]
    unit.applications = {a["application_id"]: a for a in apps}
    return unit, apps


def _item(app: dict, decision: str, day: int, reason: str | None = None) -> DecisionItemIn:
    return DecisionItemIn(application_id=app["application_id"], decision=decision, reason=reason,
                          decided_at=T0 + timedelta(days=day))


async def test_decisions_in_a_batch_mean_what_they_mean_one_by_one_and_publish_each_change():
    decisions = lambda apps: [_item(apps[0], "admitted", 1), _item(apps[1], "admitted", 1),  # noqa: E731
                              _item(apps[2], "waitlisted", 1), _item(apps[2], "admitted", 2),
                              _item(apps[3], "rejected", 2, "profile"), _item(apps[0], "withdrawn", 3),
                              _item(apps[1], "admitted", 3)]
    together, apps = _unit(capacity=2, n=4)
    alone = FakeIntakeUnit()
    alone.sessions = dict(together.sessions)
    alone.applications = {k: dict(v) for k, v in together.applications.items()}
    batch = await service.decide_applications(together, decisions(apps), "centre")
    single = [(await service.decide_applications(alone, [item], "centre"))[0] for item in decisions(apps)]

    def shape(outcome):
        if isinstance(outcome, Exception):
            return type(outcome).__name__
        return outcome["application"]["status"], outcome["changed"], outcome["promoted"]

    assert [shape(o) for o in batch] == [shape(o) for o in single]
    assert [shape(o) for o in batch] == [
        ("admitted", True, None), ("admitted", True, None), ("waitlisted", True, None), "CapacityReached",
        ("rejected", True, None), ("withdrawn", True, apps[2]["application_id"]), ("admitted", False, None)]
    assert {k: a["status"] for k, a in together.applications.items()} == \
        {k: a["status"] for k, a in alone.applications.items()}
    assert [e.data.decision for e in together.events] == ["admitted", "admitted", "waitlisted", "rejected",
                                                          "withdrawn", "admitted"]
    assert together.transitions[-1][-1] == WAITLIST_ACTOR
