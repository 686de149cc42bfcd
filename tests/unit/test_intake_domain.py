import pytest

from services.intake import domain


@pytest.mark.parametrize("current,decision,expected", [
    ("submitted", "admitted", "admitted"),
    ("submitted", "waitlisted", "waitlisted"),
    ("screened", "withdrawn", "withdrawn"),
    ("waitlisted", "admitted", "admitted"),
    ("admitted", "withdrawn", "withdrawn"),
])
def test_allowed_decisions(current, decision, expected):
    reason = "not_eligible" if decision == "rejected" else None
    assert domain.decide(current, decision, reason, admitted=0, capacity=5).status == expected


@pytest.mark.parametrize("current,decision", [
    ("rejected", "admitted"), ("withdrawn", "admitted"), ("admitted", "rejected"), ("admitted", "waitlisted"),
])
def test_refused_transitions(current, decision):
    with pytest.raises(domain.InvalidTransition):
        domain.decide(current, decision, "x", admitted=0, capacity=5)


def test_repeating_a_decision_changes_nothing():
    assert domain.decide("admitted", "admitted", None, admitted=5, capacity=5).status is None


def test_capacity_and_reason():
    with pytest.raises(domain.CapacityReached):
        domain.decide("submitted", "admitted", None, admitted=5, capacity=5)
    with pytest.raises(domain.DecisionNeedsReason):
        domain.decide("submitted", "rejected", None, admitted=0, capacity=5)


@pytest.mark.parametrize("birth,year,band", [(1995, 2020, "under_26"), (1994, 2020, "26_44"),
                                             (1976, 2020, "26_44"), (1975, 2020, "45_plus")])
def test_age_band(birth, year, band):
    assert domain.age_band(birth, year) == band


def test_normalisation():
    assert domain.normalise_email("  Ada@Example.ORG ") == "ada@example.org"
    assert domain.normalise_name("  Jean   Pierre ") == "Jean Pierre"


def test_after_a_start_an_admission_is_neither_withdrawn_nor_a_no_show():
    from datetime import UTC, datetime

    started = datetime(2020, 3, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 March in Paris
    for decision in ("withdrawn", "no_show"):
        with pytest.raises(domain.TrainingAlreadyStarted, match="started on 2020-03-02") as refused:
            domain.decide("admitted", decision, None, 1, 10, started)
        assert refused.value.field == "decision" and refused.value.code == "training_started"
        assert domain.decide("admitted", decision, None, 1, 10, None).status == decision
    assert domain.decide("admitted", "admitted", None, 1, 10, started).status is None  # a retry changes nothing
