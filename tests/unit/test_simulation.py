from datetime import date

from parcours.cli import main
from parcours.simulation.truth import cases, ground_truth
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
    admitted: dict[tuple, int] = {}
    for app in world.applications:
        if app.admitted:
            key = (app.programme, app.session)
            admitted[key] = admitted.get(key, 0) + 1 - (app.no_show_at is not None)
        assert app.decided_at >= app.submitted_at
        assert app.promoted_at is None or app.promoted_at >= app.decided_at
    for _, training in world.trainings():
        times = [f.occurred_at for f in training.facts]
        assert times == sorted(times)
        if training.facts and not training.is_continuation:
            assert training.facts[0].type == "started"
        if training.exit_reason:
            assert training.facts[-1].type == "exited"
    sessions = {(p, s): session for p, programme in enumerate(world.programmes)
                for s, session in enumerate(programme.sessions)}
    assert all(n <= sessions[key].capacity for key, n in admitted.items())


def test_a_person_applies_about_one_and_a_half_times_and_keeps_who_she_is():
    world = generate(2020, 0.05, 3, TODAY)
    per_person: dict[int, set] = {}
    for app in world.applications:
        per_person.setdefault(app.person, set()).add((app.programme, app.session))
    assert 1.35 < len(world.applications) / len(per_person) < 1.65
    assert all(len(sessions) == sum(a.person == p for a in world.applications) for p, sessions in per_person.items())


def test_every_hard_case_is_generated_at_scale_005():
    tally = cases(generate(2020, 0.05, 1, TODAY), 2020)
    for case in ("no_show", "waitlisted_admitted", "readmitted_after_dropout", "retake_after_failed_certification",
                 "transfer_continued", "two_admissions_one_start", "decision_after_start_refused",
                 "contact_unreachable", "contact_refused", "outcome_corrected", "several_situations",
                 "exit_0030_paris_new_year", "exit_0030_paris_first_of_month", "exit_0030_paris_summer_time",
                 "exit_0030_paris_winter_time", "people_applying_several_times", "programmes_with_several_sessions",
                 "programme_mode_changed", "programme_back_to_usual_mode"):
        assert tally.get(case, 0) >= 1, case


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


def test_the_network_is_the_sum_of_its_funding_lines():
    """Issue 17: each funder is reported to separately, and the lines add up to the network."""
    for year in (2020, 2021):
        world = generate(year, 0.05, 4, TODAY)
        lines = sorted({p.funding_line for p in world.programmes})
        assert len(lines) >= 2
        total, parts = ground_truth(world, year), [ground_truth(world, year, line) for line in lines]
        for key in ("applications_submitted", "applications_admitted", "places_offered", "exits_total",
                    "followups_in_scope", "outcomes_recorded"):
            assert total[key] == sum(p[key] for p in parts), key
        # People: a learner trained in two lines (a transfer) counts in each, once in the network.
        assert total["learners_trained_or_in_training"] <= sum(p["learners_trained_or_in_training"] for p in parts)
        assert all(p.departement and p.label_year for p in world.programmes)
