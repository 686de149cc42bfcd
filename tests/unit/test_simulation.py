from datetime import date

from parcours.cli import main
from parcours.simulation.truth import ground_truth
from parcours.simulation.world import generate

TODAY = date(2026, 11, 23)
COUNT_KEYS = {
    "applications_submitted", "applications_admitted", "applications_waitlisted", "applications_rejected",
    "applications_withdrawn", "learners_started", "learners_trained_or_in_training", "exits_total",
    "exits_by_reason", "followups_in_scope", "followups_exempt", "outcomes_recorded", "outcomes_by_situation",
}


def test_same_seed_same_truth_other_seed_other_truth():
    a = ground_truth(generate(2020, 0.02, 7, TODAY))
    assert a == ground_truth(generate(2020, 0.02, 7, TODAY))
    assert a != ground_truth(generate(2020, 0.02, 8, TODAY))


def test_truth_has_every_count_of_the_definitions():
    truth = ground_truth(generate(2020, 0.02, 1, TODAY))
    assert COUNT_KEYS <= set(truth)
    assert set(truth["exits_by_reason"]) == {"completed", "certified", "not_certified", "dropped_out", "excluded"}
    assert len(truth["outcomes_by_situation"]) == 9


def test_world_respects_capacity_and_the_order_of_facts():
    world = generate(2020, 0.05, 3, TODAY)
    admitted: dict[int, int] = {}
    for app in world.applications:
        if app.decision == "admitted":
            admitted[app.programme] = admitted.get(app.programme, 0) + 1
        times = [f.occurred_at for f in app.facts]
        assert times == sorted(times)
        assert app.decided_at >= app.submitted_at
        if app.facts:
            assert app.facts[0].type == "started"
        if app.exit_reason:
            assert app.facts[-1].type == "exited"
    assert all(n <= world.programmes[p].capacity for p, n in admitted.items())


def test_calibrated_on_the_published_shares():
    truth = ground_truth(generate(2020, 0.3, 1, TODAY))
    learners = truth["learners_trained_or_in_training"]
    assert abs(truth["learners_bac_or_lower"] / learners - 0.59) < 0.04
    assert abs(truth["learners_women"] / learners - 0.26) < 0.04
    known = truth["outcomes_recorded"]
    positive = truth["outcomes_digital_job"] + truth["outcomes_by_situation"]["further_study"]
    assert abs(positive / known - 0.724) < 0.04
    assert abs(known / truth["followups_in_scope"] - 0.70) < 0.04


def test_simulate_refuses_a_year_that_has_not_happened(capsys):
    assert main(["simulate", "--year", "2999"]) == 2
    assert "choose a year" in capsys.readouterr().out
