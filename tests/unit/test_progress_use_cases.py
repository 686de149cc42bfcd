"""Posting facts, the whole use case, against the in-memory unit: late facts, refusals that leave
nothing behind, transfers, idempotency, enrolments told apart, and a batch meaning what the same
facts posted one by one mean. The same rules run on PostgreSQL in tests/integration/test_progress*.py."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.progress import domain, service
from services.progress.schemas import CorrectionIn, FactIn
from shared.contracts import TrainingCorrectedV2, TrainingExitedV2, TrainingStartedV2
from tests.unit.fakes import FakeProgressUnit

L, P, Q = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def at(month: int, day: int = 1) -> datetime:
    return datetime(2020, month, day, 10, tzinfo=UTC)


def fact(kind: str, when: datetime, learner=L, programme=P, **fields) -> FactIn:
    defaults = {"attendance": {"hours": 7.0}, "milestone": {"milestone": "project"},
                "interrupted": {"reason": "illness"}, "exited": {"exit_reason": "certified"}}
    return FactIn(learner_id=learner, programme_id=programme, type=kind, occurred_at=when,
                  **{**defaults.get(kind, {}), **fields})


@pytest.fixture
def unit() -> FakeProgressUnit:
    fake = FakeProgressUnit()
    fake.admit(L, P)
    return fake


async def test_facts_in_order_move_the_enrolment_and_queue_one_v2_event_each(unit):
    results = await service.post_facts(unit, [fact("started", at(9)), fact("attendance", at(9, 30)),
                                              fact("attendance", at(10, 31)), fact("exited", at(12))])
    [key] = unit.enrolments
    assert [r["state"] for r in results] == ["started", "started", "started", "exited"]
    assert all(r["placed"] == "in_order" and r["enrolment_id"] == key for r in results)
    assert unit.enrolments[key].attendance_hours == 14.0 and unit.enrolments[key].exit_reason == "certified"
    assert [e.event_type for e in unit.events] == ["training.started", "training.attendance",
                                                   "training.attendance", "training.exited"]
    assert all(e.data.enrolment_id == key for e in unit.events)


async def test_a_late_fact_is_placed_at_its_date(unit):
    await service.post_facts(unit, [fact("started", at(9)), fact("exited", at(12))])
    [late] = await service.post_facts(unit, [fact("attendance", at(10))])
    assert late["placed"] == "late" and late["state"] == "exited"
    [key] = unit.enrolments
    assert unit.enrolments[key].attendance_hours == 7.0


async def test_a_late_fact_that_does_not_fit_is_refused_and_leaves_nothing_behind(unit):
    await service.post_facts(unit, [fact("started", at(9)), fact("exited", at(12))])
    before = (dict(unit.enrolments), list(unit.facts), list(unit.events))
    [refused] = await service.post_facts(unit, [fact("resumed", at(10))])
    assert isinstance(refused, domain.InvalidTransition)
    assert "placed at its date" in str(refused) and "only an interrupted training can resume" in str(refused)
    assert (unit.enrolments, unit.facts, unit.events) == before


async def test_a_fact_before_the_start_is_out_of_order(unit):
    await service.post_facts(unit, [fact("started", at(9))])
    [refused] = await service.post_facts(unit, [fact("attendance", at(8))])
    assert isinstance(refused, domain.OutOfOrder)


async def test_a_transfer_ends_one_enrolment_and_opens_the_one_it_continues_in(unit):
    unit.known_programmes.add(Q)
    [source] = unit.enrolments
    results = await service.post_facts(unit, [
        fact("started", at(9)),
        fact("exited", at(11), exit_reason="transferred", transfer_to_programme_id=Q),
        fact("attendance", at(11, 20), programme=Q),
    ])
    continued = next(k for k, i in unit.identities.items() if i.programme_id == Q)
    assert unit.identities[continued].transferred_from == source
    assert unit.identities[continued].application_id is None
    assert unit.enrolments[source].state == "exited" and unit.enrolments[source].exit_reason == "transferred"
    assert unit.enrolments[continued].state == "started" and unit.enrolments[continued].started_at == at(11)
    assert results[2]["enrolment_id"] == continued and unit.enrolments[continued].attendance_hours == 7.0
    exited, started = unit.events[1], unit.events[2]
    assert isinstance(exited, TrainingExitedV2) and isinstance(started, TrainingStartedV2)
    assert exited.data.transfer_to_enrolment_id == continued and started.data.transferred_from == source


async def test_a_transfer_to_a_programme_the_network_does_not_have_is_refused(unit):
    await service.post_facts(unit, [fact("started", at(9))])
    [refused] = await service.post_facts(unit, [
        fact("exited", at(11), exit_reason="transferred", transfer_to_programme_id=uuid.uuid4())])
    assert isinstance(refused, service.UnknownProgramme)
    [key] = unit.enrolments
    assert unit.enrolments[key].state == "started"


async def test_an_event_id_posted_again_is_a_duplicate_and_with_another_body_a_conflict(unit):
    event_id = uuid.uuid4()
    first = fact("started", at(9), event_id=event_id)
    [applied] = await service.post_facts(unit, [first])
    [again, copy_in_batch] = await service.post_facts(unit, [first, first])
    [other] = await service.post_facts(unit, [fact("started", at(10), event_id=event_id)])
    assert applied["result"] == "applied"
    assert again["result"] == copy_in_batch["result"] == "duplicate"
    assert again["enrolment_id"] == applied["enrolment_id"]
    assert isinstance(other, service.IdempotencyConflict)
    assert len(unit.facts) == 1 and len(unit.events) == 1


async def test_two_enrolments_in_one_programme_are_told_apart_by_the_fact_or_by_its_name():
    unit = FakeProgressUnit()
    first, second = unit.admit(L, P), unit.admit(L, P)
    [ambiguous] = await service.post_facts(unit, [fact("started", at(9))])
    assert isinstance(ambiguous, domain.AmbiguousEnrolment)
    assert str(first) in str(ambiguous) and str(second) in str(ambiguous)
    [named] = await service.post_facts(unit, [fact("started", at(9), application_id=second)])
    assert named["enrolment_id"] == second
    # Now only the first can take a start, and only the second spans an attendance in September.
    [start, attendance] = await service.post_facts(unit, [fact("started", at(10)), fact("attendance", at(9, 15))])
    assert start["enrolment_id"] == first
    assert attendance["enrolment_id"] == second


async def test_facts_for_someone_never_admitted_are_refused():
    [refused] = await service.post_facts(FakeProgressUnit(), [fact("started", at(9))])
    assert isinstance(refused, domain.NotAdmitted)


def _journeys(rng: random.Random, learners: list) -> list[FactIn]:
    """Each learner's plausible journey, sent out of order (an LMS's backlog, a centre re-sending a
    month), with a few facts that cannot fit and a few posted twice."""
    facts = []
    for learner in learners:
        day = at(9, rng.randrange(1, 28))
        journey = [fact("started", day, learner=learner)]
        for week in range(1, rng.randrange(3, 10)):
            journey.append(fact("attendance", day + timedelta(weeks=week), learner=learner,
                                **({"event_id": uuid.uuid4()} if rng.random() < 0.3 else {})))
        if rng.random() < 0.5:
            journey += [fact("interrupted", day + timedelta(weeks=3, days=1), learner=learner),
                        fact("resumed", day + timedelta(weeks=5, days=1), learner=learner)]
        journey.append(fact("exited", day + timedelta(weeks=12), learner=learner))
        journey.append(fact(rng.choice(["resumed", "started", "interrupted"]),
                            day + timedelta(days=rng.randrange(-5, 90)), learner=learner))
        facts += journey
    for _ in range(len(facts) // 3):  # local disorder
        i = rng.randrange(len(facts) - 3)
        j = i + rng.randrange(1, 4)
        facts[i], facts[j] = facts[j], facts[i]
    return facts + rng.sample([f for f in facts if f.event_id], 3)


def _outcome(result) -> tuple:
    if isinstance(result, BaseException):
        return ("refused", type(result).__name__)
    return (result["result"], result["state"], result.get("placed"))


@pytest.mark.parametrize("seed", range(5))
async def test_a_batch_means_what_the_same_facts_posted_one_by_one_mean(seed):
    rng = random.Random(seed)
    learners = [uuid.uuid4() for _ in range(4)]
    facts = _journeys(rng, learners)
    together, alone = FakeProgressUnit(), FakeProgressUnit()
    for learner in learners:
        application = uuid.uuid4()
        together.admit(learner, P, application)
        alone.admit(learner, P, application)
    batch = await service.post_facts(together, facts)
    single = [(await service.post_facts(alone, [f]))[0] for f in facts]
    assert [_outcome(r) for r in batch] == [_outcome(r) for r in single]
    assert together.enrolments == alone.enrolments
    outcomes = [_outcome(r) for r in batch]
    assert any(o[0] == "applied" and o[2] == "late" for o in outcomes), "late facts placed"
    assert any(o[0] == "refused" for o in outcomes) and any(o[0] == "duplicate" for o in outcomes)


# --- corrections ------------------------------------------------------------------------

async def _posted(unit, *facts) -> list[uuid.UUID]:
    return [r["event_id"] for r in await service.post_facts(unit, list(facts))]


async def test_voiding_an_exit_reopens_the_training_and_tells_downstream(unit):
    started, exited = await _posted(unit, fact("started", at(9)), fact("exited", at(12)))
    result = await service.correct_fact(unit, exited, CorrectionIn(action="void", note="wrong learner"))
    [key] = unit.enrolments
    assert result["state"] == "started" and unit.enrolments[key].exited_at is None
    corrected = unit.events[-1]
    assert isinstance(corrected, TrainingCorrectedV2)
    assert corrected.data.corrected_event_id == exited and corrected.data.state == "started"
    assert corrected.data.exited_at is None and corrected.data.enrolment_id == key
    assert [f["event_id"] for f in await unit.active_facts(key)] == [started]


async def test_amending_a_date_replays_the_history_and_an_impossible_one_is_refused_untouched(unit):
    started, attended, exited = await _posted(unit, fact("started", at(9)), fact("attendance", at(10)),
                                              fact("exited", at(12)))
    moved = await service.correct_fact(unit, exited, CorrectionIn(action="amend", occurred_at=at(11, 15)))
    [key] = unit.enrolments
    assert moved["state"] == "exited" and unit.enrolments[key].exited_at == at(11, 15)
    before = (dict(unit.enrolments), len(unit.events))
    with pytest.raises(domain.OutOfOrder) as refused:
        await service.correct_fact(unit, started, CorrectionIn(action="amend", occurred_at=at(10, 20)))
    assert "after this correction the history would not hold" in str(refused.value)
    with pytest.raises(domain.InvalidTransition):
        await service.correct_fact(unit, started, CorrectionIn(action="void"))  # attendance needs the start
    assert (dict(unit.enrolments), len(unit.events)) == before


async def test_a_correction_is_idempotent_by_its_id_and_a_voided_fact_cannot_be_voided_again(unit):
    _, attended = await _posted(unit, fact("started", at(9)), fact("attendance", at(10)))
    correction_id = uuid.uuid4()
    first = await service.correct_fact(unit, attended, CorrectionIn(action="void"), correction_id)
    again = await service.correct_fact(unit, attended, CorrectionIn(action="void"), correction_id)
    assert first["result"] == "applied" and again["result"] == "duplicate" and again["state"] == first["state"]
    with pytest.raises(service.IdempotencyConflict):
        await service.correct_fact(unit, attended, CorrectionIn(action="amend", hours=3), correction_id)
    with pytest.raises(service.AlreadyVoided):
        await service.correct_fact(unit, attended, CorrectionIn(action="void"))
    with pytest.raises(service.UnknownFact):
        await service.correct_fact(unit, uuid.uuid4(), CorrectionIn(action="void"))
    [key] = unit.enrolments
    assert unit.enrolments[key].attendance_hours == 0.0
    assert sum(isinstance(e, TrainingCorrectedV2) for e in unit.events) == 1


async def test_an_amendment_is_validated_like_a_new_fact(unit):
    _, exited = await _posted(unit, fact("started", at(9)), fact("exited", at(12)))
    with pytest.raises(service.InvalidAmendment):
        await service.correct_fact(unit, exited, CorrectionIn(action="amend", exit_reason="dropped_out"))
    amended = await service.correct_fact(unit, exited, CorrectionIn(action="amend", exit_reason="dropped_out",
                                                                    dropout_cause="found_job"))
    [key] = unit.enrolments
    assert amended["state"] == "exited" and unit.enrolments[key].dropout_cause == "found_job"


async def test_a_centre_names_the_enrolment_by_its_application_without_the_learner_id(unit):
    """Security review, finding 3: a centre never sees the network-wide learner id."""
    other_learner = uuid.uuid4()
    theirs = unit.admit(other_learner, Q)  # another centre's enrolment
    [mine] = [key for key in unit.enrolments if key != theirs]
    named = FactIn(application_id=mine, programme_id=P, type="started", occurred_at=at(9))
    foreign = FactIn(application_id=theirs, programme_id=P, type="started", occurred_at=at(9))
    unknown = FactIn(enrolment_id=uuid.uuid4(), programme_id=P, type="started", occurred_at=at(9))
    results = await service.post_facts(unit, [named, foreign, unknown])
    assert results[0]["enrolment_id"] == mine and results[0]["state"] == "started"
    # Another centre's enrolment and an id nobody has get the same refusal: nothing is revealed.
    assert [type(r) for r in results[1:]] == [domain.NotAdmitted, domain.NotAdmitted]
    assert unit.enrolments[theirs].state == "admitted"
    assert [e.learner_id for e in unit.events] == [L]
