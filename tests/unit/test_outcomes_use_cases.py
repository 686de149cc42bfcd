"""Follow-up work, whole use cases, on the in-memory unit and a clock given: what staff may record
when, what it leaves, and what it tells the other services. The same on PostgreSQL in
tests/integration/test_outcomes.py and test_followup_work.py."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from services.outcomes import domain, service
from services.outcomes.schemas import AttemptIn, CloseIn, OutcomeIn, OutcomeItemIn
from shared.contracts import FollowupClosed, OutcomeRecorded
from tests.unit.fakes import FakeOutcomesUnit

L, P = uuid.uuid4(), uuid.uuid4()
EXIT = date(2020, 10, 2)  # observation 2 April 2021, window 2 March to 2 June 2021
DUE, EARLY, LATE = date(2021, 4, 10), date(2021, 1, 15), date(2021, 7, 1)
OUTCOME = OutcomeIn(situation="permanent_contract", digital_job=True, observed_on=date(2021, 4, 2))


@pytest.fixture
def unit() -> FakeOutcomesUnit:
    return FakeOutcomesUnit()


async def test_an_outcome_in_the_window_closes_the_followup_and_tells_intake_and_the_figures(unit):
    followup = unit.exit(L, P, EXIT)
    result = await service.record_outcome(unit, followup, OUTCOME, today=DUE)
    assert result["result"] == "created" and result["late"] is False
    assert (await unit.view(followup, DUE))["status"] == "recorded"
    recorded, closed = unit.events
    assert isinstance(recorded, OutcomeRecorded) and recorded.data.situation == "permanent_contract"
    assert recorded.correlation_id == followup and recorded.data.observed_on == date(2021, 4, 2)
    assert isinstance(closed, FollowupClosed) and closed.data.status == "recorded"


async def test_before_the_window_it_is_refused_and_after_it_accepted_and_flagged_late(unit):
    followup = unit.exit(L, P, EXIT)
    with pytest.raises(domain.NotDue):
        await service.record_outcome(unit, followup, OUTCOME, today=EARLY)
    assert not unit.outcomes and not unit.events
    assert (await unit.view(followup, LATE))["status"] == "overdue"
    late = await service.record_outcome(unit, followup, OUTCOME, today=LATE)
    assert late["late"] is True and unit.outcomes[0]["late"] is True


async def test_a_correction_replaces_the_outcome_and_names_the_version_it_corrects(unit):
    followup = unit.exit(L, P, EXIT)
    with pytest.raises(domain.NothingToCorrect):
        await service.correct_outcome(unit, followup, OUTCOME, today=DUE)
    first = await service.record_outcome(unit, followup, OUTCOME, today=DUE)
    with pytest.raises(domain.AlreadyRecorded):
        await service.record_outcome(unit, followup, OUTCOME, today=DUE)
    study = OutcomeIn(situation="further_study", observed_on=date(2021, 4, 2))
    corrected = await service.correct_outcome(unit, followup, study, today=LATE)
    assert corrected["corrects_event_id"] == first["event_id"]
    assert [o["situation"] for o in unit.outcomes] == ["permanent_contract", "further_study"]
    assert [type(e).__name__ for e in unit.events] == ["OutcomeRecorded", "FollowupClosed", "OutcomeRecorded"]


async def test_attempts_are_counted_and_a_refusal_closes_the_followup(unit):
    followup = unit.exit(L, P, EXIT)
    missed = AttemptIn(channel="phone", attempted_on=date(2021, 3, 5), result="no_answer")
    seen = await service.log_attempt(unit, followup, missed, today=DUE)
    assert seen["status"] == "attempted" and seen["attempts"] == 1 and not unit.events
    refused = await service.log_attempt(unit, followup, missed.model_copy(update={"result": "refused"}), today=DUE)
    assert refused["status"] == "refused" and refused["attempts"] == 2
    [closed] = unit.events
    assert isinstance(closed, FollowupClosed) and closed.data.status == "refused"
    with pytest.raises(domain.FollowupClosed):
        await service.log_attempt(unit, followup, missed, today=DUE)


async def test_closing_needs_a_reason_for_an_exemption_and_an_unreachable_learner_found_again_can_answer(unit):
    followup = unit.exit(L, P, EXIT)
    with pytest.raises(domain.InvalidOutcome):
        await service.close_followup(unit, followup, CloseIn(status="exempt"), today=DUE)
    closed = await service.close_followup(unit, followup, CloseIn(status="unreachable"), today=LATE)
    assert closed["status"] == "unreachable"
    found_again = await service.record_outcome(unit, followup, OUTCOME, today=LATE)
    assert found_again["result"] == "created" and found_again["late"] is False


async def test_followups_are_named_by_id_enrolment_or_learner_and_two_need_an_id(unit):
    first = unit.exit(L, P, EXIT)
    enrolment = unit.followups[first]["enrolment_id"]
    assert await service.followup_named(unit, OutcomeItemIn(enrolment_id=enrolment, **OUTCOME.model_dump())) == first
    assert await service.resolve_followup(unit, L, P) == first
    second = unit.exit(L, P, date(2021, 9, 30))  # re-admitted, exited again
    with pytest.raises(service.AmbiguousFollowup) as ambiguous:
        await service.resolve_followup(unit, L, P)
    assert str(first) in str(ambiguous.value) and str(second) in str(ambiguous.value)
    with pytest.raises(service.NotFound):
        await service.record_outcome(unit, uuid.uuid4(), OUTCOME, today=DUE)


async def test_the_detail_carries_attempts_and_every_outcome_version(unit):
    followup = unit.exit(L, P, EXIT)
    await service.log_attempt(unit, followup, AttemptIn(channel="sms", attempted_on=date(2021, 3, 5),
                                                          result="reached"), today=DUE)
    await service.record_outcome(unit, followup, OUTCOME, today=DUE)
    await service.assign_followup(unit, followup, "Samia", today=DUE)
    detail = await service.followup_detail(unit, followup, today=DUE)
    assert detail["assigned_to"] == "Samia" and len(detail["attempts"]) == 1 and len(detail["outcomes"]) == 1
