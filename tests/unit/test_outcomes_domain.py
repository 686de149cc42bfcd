from datetime import date

import pytest

from services.outcomes import disclosure, domain, indicators
from shared.contracts.calendar import add_months


@pytest.mark.parametrize("start,months,expected", [
    (date(2019, 8, 31), 6, date(2020, 2, 29)),   # leap year
    (date(2020, 8, 31), 6, date(2021, 2, 28)),
    (date(2020, 1, 31), 1, date(2020, 2, 29)),
    (date(2020, 12, 15), 6, date(2021, 6, 15)),
    (date(2020, 3, 31), -1, date(2020, 2, 29)),
    (date(2020, 7, 31), 6, date(2021, 1, 31)),
])
def test_add_months_clamps_to_month_end(start, months, expected):
    assert add_months(start, months) == expected


def test_followup_window_default_and_configured():
    dates = domain.followup_dates(date(2020, 8, 31))
    assert dates.observation_date == date(2021, 2, 28)
    assert (dates.window_start, dates.window_end) == (date(2021, 1, 28), date(2021, 4, 28))
    wider = domain.followup_dates(date(2020, 8, 31), before=2, after=3)
    assert (wider.window_start, wider.window_end) == (date(2020, 12, 28), date(2021, 5, 28))


def test_which_exits_are_followed_up():
    assert all(domain.opens_followup(r) for r in ("completed", "certified", "not_certified", "dropped_out",
                                                  "excluded"))
    assert not domain.opens_followup("transferred")


def test_positive_definitions():
    assert indicators.is_positive("gen_2020", "permanent_contract", True)
    assert not indicators.is_positive("gen_2020", "permanent_contract", False)
    assert indicators.is_positive("gen_2020", "further_study", False)
    assert indicators.is_positive("employment_or_study_v1", "temporary_agency", False)
    assert not indicators.is_positive("employment_or_study_v1", "job_seeker", False)
    assert indicators.is_positive("durable_employment_v1", "self_employed", False)
    assert not indicators.is_positive("durable_employment_v1", "apprenticeship", True)


def test_outcome_checks():
    with pytest.raises(domain.InvalidOutcome):
        domain.check_outcome("further_study", True, date(2021, 1, 1), date(2020, 6, 1), "due")
    with pytest.raises(domain.InvalidOutcome):
        domain.check_outcome("inactive", False, date(2020, 1, 1), date(2020, 6, 1), "due")
    with pytest.raises(domain.AlreadyRecorded):
        domain.check_outcome("inactive", False, date(2021, 1, 1), date(2020, 6, 1), "recorded")


def raw(**over):
    base = {"applications_submitted": 0, "applications_admitted": 0, "applications_waitlisted": 0,
            "applications_rejected": 0, "applications_withdrawn": 0, "places_offered": 0, "learners_started": 0,
            "learners_trained_or_in_training": 0, "exits_by_reason": {}, "followups_in_scope": 0,
            "followups_exempt": 0, **{f"learners_{s}": 0 for s in indicators.SHARES}}
    return base | over


def test_empty_year_gives_null_rates_not_zero():
    counts = indicators.complete_counts(raw(), {})
    rates = indicators.indicators(counts, {})
    assert counts["exits_total"] == 0 and counts["outcomes_by_situation"]["inactive"] == 0
    assert rates["admission_rate"] == {"value": None, "numerator": 0, "denominator": 0}
    assert rates["positive_exit_rate"]["gen_2020"]["value"] is None


def test_tiny_hand_computed_case():
    cells = {("permanent_contract", True): 2, ("apprenticeship", False): 1, ("further_study", False): 1,
             ("job_seeker", False): 1}
    counts = indicators.complete_counts(raw(applications_admitted=3, applications_rejected=1,
                                        exits_by_reason={"certified": 4, "dropped_out": 2},
                                        followups_in_scope=6, learners_trained_or_in_training=8,
                                        learners_women=2), cells)
    rates = indicators.indicators(counts, cells)
    assert counts["outcomes_recorded"] == 5 and counts["outcomes_digital_job"] == 2
    assert rates["admission_rate"]["value"] == 0.75
    assert rates["dropout_rate"] == {"value": round(2 / 6, 6), "numerator": 2, "denominator": 6}
    assert rates["positive_exit_rate"]["gen_2020"]["numerator"] == 3
    assert rates["positive_exit_rate"]["employment_or_study_v1"]["numerator"] == 4
    assert rates["positive_exit_rate"]["durable_employment_v1"]["numerator"] == 2
    assert rates["positive_exit_rate_strict"]["gen_2020"]["denominator"] == 6
    assert rates["share_other_job"]["numerator"] == 1 and rates["share_women"]["value"] == 0.25


W_START, W_END = date(2020, 12, 31), date(2021, 3, 31)  # exit 31 Jul 2020 -> observation 31 Jan 2021


@pytest.mark.parametrize("stored,today,expected", [
    ("scheduled", date(2020, 12, 30), "scheduled"),
    ("scheduled", date(2020, 12, 31), "due"),       # the window opens on its first day
    ("scheduled", date(2021, 3, 31), "due"),        # and is still open on its last
    ("scheduled", date(2021, 4, 1), "overdue"),
    ("attempted", date(2021, 2, 10), "attempted"),
    ("attempted", date(2021, 4, 1), "overdue"),
    ("attempted", date(2020, 12, 1), "attempted"),  # tried early: still shown as tried
    ("recorded", date(2030, 1, 1), "recorded"),
    ("unreachable", date(2021, 2, 1), "unreachable"),
    ("refused", date(2021, 2, 1), "refused"),
    ("exempt", date(2021, 2, 1), "exempt"),
])
def test_followup_states_at_the_edges_of_the_window(stored, today, expected):
    assert domain.followup_status(stored, today, W_START, W_END) == expected


def test_exit_on_the_31st_and_29_february():
    dates = domain.followup_dates(date(2020, 7, 31))
    assert (dates.observation_date, dates.window_start, dates.window_end) == (date(2021, 1, 31), W_START, W_END)
    leap = domain.followup_dates(date(2023, 8, 29))
    assert leap.observation_date == date(2024, 2, 29)
    assert (leap.window_start, leap.window_end) == (date(2024, 1, 29), date(2024, 4, 29))
    assert domain.followup_dates(date(2023, 8, 30)).observation_date == date(2024, 2, 29)


def test_recording_is_refused_before_the_window_and_on_closed_followups():
    with pytest.raises(domain.NotDue):
        domain.check_outcome("inactive", False, date(2021, 1, 1), date(2020, 6, 1), "scheduled")
    with pytest.raises(domain.FollowupClosed):
        domain.check_outcome("inactive", False, date(2021, 1, 1), date(2020, 6, 1), "exempt")
    assert domain.check_outcome("inactive", False, date(2021, 1, 1), date(2020, 6, 1), "overdue") is True  # late
    assert domain.check_outcome("inactive", False, date(2021, 1, 1), date(2020, 6, 1), "unreachable") is False
    assert domain.check_outcome("inactive", False, date(2021, 1, 1), date(2020, 6, 1), "due") is False
    with pytest.raises(domain.NothingToCorrect):
        domain.check_correction("inactive", False, date(2021, 1, 1), date(2020, 6, 1), "due")


def test_attempts_and_closing():
    assert domain.check_attempt("due", date(2021, 2, 1), date(2020, 7, 31)) == "attempted"
    assert domain.check_attempt("overdue", date(2021, 2, 1), date(2020, 7, 31), "refused") == "refused"
    with pytest.raises(domain.FollowupClosed):
        domain.check_attempt("recorded", date(2021, 2, 1), date(2020, 7, 31))
    with pytest.raises(domain.InvalidOutcome):
        domain.check_attempt("due", date(2020, 7, 1), date(2020, 7, 31))
    with pytest.raises(domain.InvalidOutcome):
        domain.check_close("due", "exempt", None)
    domain.check_close("attempted", "exempt", "left_country")
    with pytest.raises(domain.FollowupClosed):
        domain.check_close("recorded", "unreachable", None)


def test_groups_sum_to_the_total_and_small_cells_are_withheld():
    per = {
        "p1": (raw(applications_submitted=30, applications_admitted=9, applications_rejected=21,
                   exits_by_reason={"certified": 8}, followups_in_scope=8), {("further_study", False): 5}),
        "p2": (raw(applications_submitted=5, applications_admitted=1, applications_rejected=4,
                   exits_by_reason={"certified": 2, "dropped_out": 1}, followups_in_scope=3),
               {("inactive", False): 2}),
    }
    region = {"p1": "32", "p2": "11"}
    groups = indicators.group(per, region.get)
    total = indicators.group(per, lambda _: "all")["all"]
    assert total[0]["applications_submitted"] == 35 and total[0]["exits_by_reason"] == {"certified": 10,
                                                                                        "dropped_out": 1}
    assert total[1] == {("further_study", False): 5, ("inactive", False): 2}
    small = disclosure.protect(indicators.figures(*groups["11"]), 20)
    assert small["counts"]["applications_submitted"] == disclosure.WITHHELD
    assert small["counts"]["applications_waitlisted"] == 0  # zero is not identifying
    assert small["rates"]["admission_rate"] == {"value": disclosure.WITHHELD, "numerator": None,
                                                "denominator": None, "suppressed": True}
    big = disclosure.protect(indicators.figures(*groups["32"]), 20)
    assert big["counts"]["applications_submitted"] == 30
