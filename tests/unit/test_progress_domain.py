from datetime import UTC, datetime, timedelta

import pytest

from services.progress import domain
from services.progress.domain import Enrolment, InvalidTransition, OutOfOrder, apply_fact, on_decision
from shared.contracts.vocabulary import ENROLMENT_STATES, FACT_TYPES


def d(day: int, month: int = 3) -> datetime:
    return datetime(2020, month, day, 9, tzinfo=UTC)


def started() -> Enrolment:
    return apply_fact(Enrolment("admitted"), "started", d(2))


def test_full_path():
    e = started()
    e = apply_fact(e, "attendance", d(20), hours=30)
    e = apply_fact(e, "interrupted", d(25))
    e = apply_fact(e, "resumed", d(5, 4))
    e = apply_fact(e, "milestone", d(6, 4))
    e = apply_fact(e, "exited", d(30, 6), exit_reason="completed")
    assert (e.state, e.exit_reason, e.attendance_hours) == ("exited", "completed", 30)
    assert e.started_at == d(2) and e.exited_at == d(30, 6)


def test_late_attendance_inside_the_training_is_accepted():
    e = apply_fact(started(), "exited", d(30, 6), exit_reason="completed")
    assert apply_fact(e, "attendance", d(15, 5), hours=10).attendance_hours == 10


@pytest.mark.parametrize("fact", ["attendance", "milestone", "interrupted", "resumed", "exited"])
def test_nothing_before_the_start(fact):
    with pytest.raises(InvalidTransition):
        apply_fact(Enrolment("admitted"), fact, d(3), hours=1, exit_reason="completed")


def test_refusals():
    e = started()
    with pytest.raises(InvalidTransition):
        apply_fact(e, "started", d(3))
    with pytest.raises(OutOfOrder):
        apply_fact(e, "attendance", d(1), hours=1)
    with pytest.raises(InvalidTransition):
        apply_fact(e, "resumed", d(3))
    i = apply_fact(e, "interrupted", d(10))
    with pytest.raises(InvalidTransition):
        apply_fact(i, "interrupted", d(11))
    with pytest.raises(OutOfOrder):
        apply_fact(i, "resumed", d(9))
    x = apply_fact(i, "exited", d(12), exit_reason="dropped_out")
    with pytest.raises(OutOfOrder):
        apply_fact(x, "attendance", d(13), hours=1)
    with pytest.raises(InvalidTransition):
        apply_fact(x, "exited", d(14), exit_reason="completed")


def test_decisions():
    assert on_decision(None, "admitted") == Enrolment("admitted")
    assert on_decision(None, "rejected") is None
    assert on_decision(Enrolment("admitted"), "withdrawn").state == "withdrawn"
    assert on_decision(started(), "withdrawn") is None
    assert on_decision(Enrolment("admitted"), "no_show").state == "no_show"
    assert on_decision(started(), "no_show") is None  # they came after all
    with pytest.raises(InvalidTransition):
        apply_fact(Enrolment("no_show"), "started", d(2))
    with pytest.raises(InvalidTransition):
        apply_fact(Enrolment("withdrawn"), "started", d(2))


def test_the_transition_tables_speak_the_declared_states_and_facts():
    for (before, fact), after in domain.TRANSITIONS.items():
        assert {before, after} <= set(ENROLMENT_STATES) and fact in FACT_TYPES
    for state, fact in domain.WHY_NOT:
        assert state in {"*", *ENROLMENT_STATES} and fact in {"*", *FACT_TYPES}
    assert domain.RECORDS <= set(FACT_TYPES) and domain.NEVER_STARTED <= set(ENROLMENT_STATES)
    # Every pair the table refuses is refused with a sentence, never the unknown-fact fallback.
    for state in ENROLMENT_STATES:
        for fact in set(FACT_TYPES) - domain.RECORDS:
            if (state, fact) not in domain.TRANSITIONS:
                assert not domain.why_not(state, fact).startswith("unknown"), (state, fact)


def _history(rng, start_day: int) -> list[domain.Fact]:
    """A plausible enrolment's facts, in date order: a start, records, perhaps a pause, perhaps an exit."""
    moment = datetime(2020, 1, 1, 9, tzinfo=UTC) + timedelta(days=start_day)

    def later(most_days: int) -> datetime:
        nonlocal moment
        moment += timedelta(days=rng.randrange(0, most_days), minutes=rng.randrange(1, 600))
        return moment

    facts = [domain.Fact("started", moment)]
    for _ in range(rng.randrange(0, 40)):
        facts.append(domain.Fact(rng.choice(["attendance", "milestone"]), later(5), rng.choice([0.0, 3.5, 7.0])))
    if rng.random() < 0.3:
        facts += [domain.Fact("interrupted", later(5)), domain.Fact("resumed", later(9))]
    if rng.random() < 0.6:
        facts.append(domain.Fact("exited", later(9), exit_reason="completed"))
    return facts


def test_a_late_record_is_placed_without_a_replay_exactly_as_a_replay_would_place_it():
    """Issue 16: an LMS sending a backlog replayed each enrolment's whole history per fact."""
    import random

    rng = random.Random(16)
    for _ in range(3000):
        history = _history(rng, rng.randrange(0, 30))
        enrolment = domain.replay(history)
        when = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=rng.uniform(-5, 120))
        kind, hours = rng.choice([("attendance", 7.0), ("milestone", 0.0)])
        try:
            expected = domain.replay([*history, domain.Fact(kind, when, hours)])
        except domain.DomainError as exc:
            with pytest.raises(type(exc)):
                domain.place_record(enrolment, kind, when, hours)
            continue
        placed = domain.place_record(enrolment, kind, when, hours)
        assert (placed.state, placed.started_at, placed.exited_at, placed.attendance_hours) == (
            expected.state, expected.started_at, expected.exited_at, expected.attendance_hours)
