"""The whole journey through the three services as real processes, started by `parcours up`.

Exact equality between the simulator's ground truth and the report is the proof that
nothing was lost or counted twice on the way.
"""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest

from tests.e2e.helpers import Up, report_counts, run, service_ports

pytestmark = pytest.mark.e2e
HARD_CASES = ("no_show", "waitlisted_admitted", "readmitted_after_dropout", "retake_after_failed_certification",
              "transfer_continued", "two_admissions_one_start", "decision_after_start_refused",
              "contact_unreachable", "contact_refused", "outcome_corrected", "several_situations",
              "exit_0030_paris_new_year", "exit_0030_paris_first_of_month", "exit_0030_paris_summer_time",
              "exit_0030_paris_winter_time", "people_applying_several_times", "programmes_with_several_sessions",
              "programme_mode_changed", "programme_back_to_usual_mode")


def test_simulated_year_report_equals_ground_truth_and_survives_a_restart(tmp_path):
    ports = service_ports()
    state = tmp_path / "state"
    up = Up(state, ports)
    try:
        lines = up.wait_ready()
        for name, port in ports.items():
            assert f"{name} http://127.0.0.1:{port}" in lines
        assert any(line.startswith("kafka 127.0.0.1:") for line in lines)
        assert sum(line.startswith("database ") for line in lines) == 3

        truth_file = tmp_path / "truth.json"
        sim = run(["simulate", "--year", "2020", "--scale", "0.02", "--seed", "2", "--truth", str(truth_file),
                   "--quiet", "--timeout", "240"], up.env())
        assert sim.returncode == 0, sim.stdout + sim.stderr
        written = json.loads(truth_file.read_text())
        truth, generated = written["counts"], written["cases"]
        counts = report_counts(up.env())
        by_line = {line: report_counts(up.env(), 2020, "--funding-line", line) for line in written["by_funding_line"]}
        table = run(["report", "--year", "2020"], up.env())
        network = httpx.get(f"http://127.0.0.1:{ports['outcomes']}/network-figures", params={"year": 2020},
                            headers=up.headers, timeout=60).json()
    finally:
        code, out = up.stop()
    print("ground truth:", json.dumps(truth, sort_keys=True))
    assert counts == truth, {k: (truth.get(k), counts.get(k)) for k in set(truth) | set(counts)
                             if truth.get(k) != counts.get(k)}
    assert truth["applications_submitted"] > 500 and truth["outcomes_recorded"] > 50
    # Each funder's report equals the truth of its programmes (issue 17).
    assert len(by_line) >= 2 and by_line == written["by_funding_line"]
    # And so do the figures the network publishes beyond the rates (domain.md §6).
    expected = written["network_figures"]
    assert {j["job_family"]: j["learners"] for j in network["target_jobs"] if j["learners"]} == {
        job: n for job, n in expected["target_jobs"].items() if n}
    assert [j["learners"] for j in network["target_jobs"]] == sorted((j["learners"] for j in network["target_jobs"]),
                                                                     reverse=True)
    assert {k: network["mode_changes"][k] for k in expected["mode_changes"]} == expected["mode_changes"]
    assert network["since_launch"]["people_trained"] == expected["people_trained"]
    assert {str(r["year"]): [r["numerator"], r["denominator"]]
            for r in network["since_launch"]["positive_exit_rate_by_year"]} == expected["positive_by_year"]
    # The equality proves the rules because the world holds every hard case of domain.md §7.
    assert {case for case in HARD_CASES if not generated.get(case)} == set(), generated
    assert "Taux de sortie positive (définition GEN 2020)" in table.stdout  # French first (issue 18)
    assert code == 0 and "stopped" in out

    # The same state folder again: the data is kept, and the memory-only broker is refilled
    # from the outboxes without counting anything twice.
    again = Up(state, ports)
    try:
        lines = again.wait_ready()
        if "PARCOURS_KAFKA_BOOTSTRAP_SERVERS" not in os.environ:  # only the embedded broker starts empty
            assert any(line.startswith("re-publishing") for line in lines)
        time.sleep(3)
        assert report_counts(again.env()) == truth

        # Another year (far enough not to overlap) on the same services: the simulator waits for what
        # it adds to what is there, and each year's figures stay its own.
        truth_2016 = tmp_path / "truth-2016.json"
        sim = run(["simulate", "--year", "2016", "--scale", "0.01", "--seed", "2", "--truth", str(truth_2016),
                   "--quiet", "--timeout", "240"], again.env())
        assert sim.returncode == 0, sim.stdout + sim.stderr
        assert report_counts(again.env(), 2016) == json.loads(truth_2016.read_text())["counts"]
        assert report_counts(again.env()) == truth
    finally:
        again.stop()
