"""Security review, findings about what Parcours writes: files and reports (issue 15, finding 6)."""

from __future__ import annotations

import csv
import io
import os
import stat
import threading

from parcours import report_html
from parcours.up import write_private
from services.outcomes import report_files as report
from shared.i18n import Words


def _figures(label: str) -> dict:
    rates = {"value": 0.5, "numerator": 1, "denominator": 2}
    block = {"counts": {"applications_submitted": 1, "exits_by_reason": {"certified": 1}},
             "rates": {"admission_rate": rates, "share_bac_or_lower": rates, "share_women": rates,
                       "share_qpv": rates, "completion_rate": rates, "dropout_rate": rates, "response_rate": rates,
                       "positive_exit_rate": {"gen_2020": rates}, "share_digital_job": rates,
                       "share_further_study": rates}}
    return {"year": 2020, **block, "breakdown": {"by": "programme", "groups": [{"key": "p", "label": label, **block}]}}


def test_security_6_csv_cells_that_a_spreadsheet_would_run_are_written_as_text():
    for formula in ('=HYPERLINK("http://evil.example","clic")', "+33 6 12", "-1+1", "@SUM(A1)", "\t=1"):
        rows = list(csv.reader(io.StringIO(report.format_csv(_figures(formula)))))
        assert rows[2][2] == "'" + formula
    plain = list(csv.reader(io.StringIO(report.format_csv(_figures("Développeur web")))))
    assert plain[2][2] == "Développeur web" and plain[1][0] == "2020"


def test_security_6_a_dollar_in_a_breakdown_label_is_drawn_not_parsed_as_mathtext():
    # Two `$` made matplotlib read mathtext, and text that is not valid mathtext failed the whole report.
    svg = report_html.breakdown_chart(_figures("Prix $\\x$")["breakdown"]["groups"], "title",
                                      ("admission_rate",), Words("fr"), "programme")
    assert "<svg" in svg


def test_security_6_the_state_file_is_never_readable_by_others_not_even_while_written(tmp_path):
    path = tmp_path / "stack.json"
    seen: list[int] = []
    stop = threading.Event()

    def watch():  # what another user could have seen between the file's creation and a chmod
        while not stop.is_set():
            for candidate in tmp_path.iterdir():
                try:
                    seen.append(stat.S_IMODE(candidate.stat().st_mode))
                except FileNotFoundError:
                    pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(200):
            path.unlink(missing_ok=True)  # each write creates the file
            write_private(path, '{"admin_key": "secret"}' * 1000)
    finally:
        stop.set()
        watcher.join()
    assert seen and all(mode == 0o600 for mode in seen), {oct(m) for m in seen}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and "secret" in path.read_text()


def test_security_4_kept_copies_lose_their_free_text_and_nothing_else():
    import json

    from shared.plumbing.erasure import redacted

    milestone = {"event_type": "training.milestone", "data": {"milestone": "Stage chez Dupont", "enrolment_id": "e"}}
    exited = {"event_type": "training.exited", "data": {"reason": "certified"}}
    interrupted = {"event_type": "training.interrupted", "data": {"reason": None}}
    assert json.loads(redacted(json.dumps(milestone).encode()))["data"] == {"milestone": "(erased)",
                                                                           "enrolment_id": "e"}
    assert redacted(json.dumps(exited).encode()) is None  # an exit reason is a code, not free text
    assert redacted(json.dumps(interrupted).encode()) is None
    assert redacted(redacted(json.dumps(milestone).encode())) is None  # erasing twice changes nothing
    assert redacted(b"\xff not an event \xfe") == b"(erased)" and redacted(b"(erased)") is None


def test_security_4_the_exported_erasure_list_reads_back_and_a_bad_line_is_named(tmp_path):
    from datetime import UTC, datetime
    from uuid import uuid4

    import pytest

    from parcours import erasures

    listed = {uuid4(): datetime(2026, 11, 2, 9, 0, tzinfo=UTC), uuid4(): datetime(2026, 3, 1, 8, 0, tzinfo=UTC)}
    path = tmp_path / "erasures.jsonl"
    erasures.write_file(path, listed)
    assert erasures.read_file(path) == listed
    assert path.read_text().splitlines()[0].startswith('{"learner_id": "' + str(min(listed, key=listed.get)))
    path.write_text(path.read_text() + "not json\n")
    with pytest.raises(ValueError, match="line 3: not an erasure"):
        erasures.read_file(path)
    with pytest.raises(ValueError, match="cannot be read"):
        erasures.read_file(tmp_path / "missing.jsonl")


def test_the_csv_carries_every_figure_the_json_has():
    """Issue 17: the CSV had ten rates and one definition while the JSON had all."""
    from services.outcomes import indicators

    raw = {**indicators.empty_raw(), "applications_submitted": 40, "exits_by_reason": {"certified": 25}}
    figures = {"year": 2020, **indicators.figures(raw, {("further_study", False): 12})}
    header, row = list(csv.reader(io.StringIO(report.format_csv(figures))))
    cells = dict(zip(header, row, strict=True))
    json_counts = report.count_columns(figures["counts"])
    json_rates = report.rate_columns(figures["rates"])
    assert {name for name, _ in json_counts} | {"year", "group_by", "group"} <= set(header)
    assert all(cells[name] == str(value) for name, value in json_counts)
    for name, node in json_rates:
        assert cells[f"{name}.numerator"] == str(node["numerator"])
        assert cells[f"{name}.denominator"] == str(node["denominator"])
    assert "positive_exit_rate.durable_employment_v1" in cells and "positive_exit_rate_strict.gen_2020" in cells


def test_the_html_report_shows_words_for_codes_and_a_ratio_as_a_ratio():
    """Issue 17: it showed "Applications per place 401.2 %" and codes (not_certified)."""
    from services.outcomes import indicators

    raw = {**indicators.empty_raw(), "applications_submitted": 401, "places_offered": 100,
           "exits_by_reason": {"not_certified": 30}}
    figures = {"year": 2020, "definitions": "v1", "cohorts": {"followups": "f", "learners": "l", "exits": "e"},
               **indicators.figures(raw, {("permanent_contract", True): 25})}
    page = report_html.render(figures, Words("en"))
    assert "<th>Applications per place</th><td>4.01 <small>(401/100)</small>" in page and "401.0" not in page
    assert "Exits: not certified" in page and "Situation: permanent contract (CDI)" in page
    assert "not_certified" not in page and "permanent_contract" not in page
    # Issue 18: French first, with France's numbers.
    page = report_html.render(figures, Words("fr"))
    assert "<html lang='fr'>" in page and "<th>Candidatures par place</th><td>4,01 <small>(401/100)</small>" in page
    assert "Sorties : non certifié" in page and "Situation : CDI" in page
