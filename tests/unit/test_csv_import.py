"""Reading a centre's spreadsheet: what Excel writes, and the lines it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.progress import csv_import
from services.progress.csv_import import CsvFileError, TooManyLines, parse, parse_moment
from services.progress.schemas import FactIn

LEARNER = "cc7bb1ba-026b-4865-bb24-66359a5ab6ef"
PROGRAMME = "5024a0b8-ae69-43a0-8ca6-9de17f91a885"
HEADER = "learner_id;programme_id;type;occurred_at;hours;milestone"


def test_the_template_is_the_documented_file_and_every_line_is_a_valid_fact():
    docs = Path(__file__).parents[2] / "docs" / "progress-template.csv"
    assert docs.read_text(encoding="utf-8") == csv_import.TEMPLATE
    lines = parse(csv_import.TEMPLATE)
    assert [line.number for line in lines] == [2, 3, 4]
    facts = [FactIn.model_validate(line.item) for line in lines]
    assert [f.type for f in facts] == ["started", "attendance", "exited"]
    assert facts[1].hours == 7.5


def test_excel_in_french_semicolons_bom_crlf_and_decimal_comma():
    text = (f"{HEADER}\r\n"
            f"{LEARNER};{PROGRAMME};started;02/03/2020 09:00;;\r\n"
            f"{LEARNER};{PROGRAMME};attendance;31/03/2020 18:00;7,5;\r\n"
            f"{LEARNER};{PROGRAMME};milestone;15/04/2020;;Premier projet réussi\r\n")
    lines = parse(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert [line.errors for line in lines] == [(), (), ()]
    assert lines[0].item == {"learner_id": LEARNER, "programme_id": PROGRAMME, "type": "started",
                             "occurred_at": "2020-03-02T09:00:00+01:00"}
    assert lines[1].item["hours"] == "7.5" and lines[1].item["occurred_at"] == "2020-03-31T18:00:00+02:00"
    assert lines[2].item["milestone"] == "Premier projet réussi"
    assert FactIn.model_validate(lines[1].item).hours == 7.5


def test_commas_with_a_quoted_decimal_comma():
    text = (f"learner_id,programme_id,type,occurred_at,hours\n"
            f'{LEARNER},{PROGRAMME},attendance,2020-03-31T18:00:00Z,"7,5"\n')
    [line] = parse(text)
    assert line.item["hours"] == "7.5" and line.item["occurred_at"] == "2020-03-31T18:00:00+00:00"


def test_empty_lines_are_skipped_and_line_numbers_are_those_of_the_file():
    text = (f"\n{HEADER}\n\n{LEARNER};{PROGRAMME};started;2020-03-02;;\n;;;;;\n   \n"
            f'{LEARNER};{PROGRAMME};milestone;2020-03-05;;"two\nlines"\n'
            f"{LEARNER};{PROGRAMME};resumed;2020-03-06;;\n")
    lines = parse(text)
    assert [line.number for line in lines] == [4, 7, 9]
    assert lines[1].item["milestone"] == "two\nlines"
    with pytest.raises(ValidationError):  # no control characters in a milestone: FactIn says so
        FactIn.model_validate(lines[1].item)


def test_column_names_in_any_case_and_order_and_closed_values_in_lower_case():
    text = (" Type ;OCCURRED_AT;Learner_Id;programme_id;Exit_Reason\n"
            f"Exited;2020-06-30;{LEARNER};{PROGRAMME};Certified\n")
    [line] = parse(text)
    assert line.item["type"] == "exited" and line.item["exit_reason"] == "certified"
    assert FactIn.model_validate(line.item).exit_reason == "certified"


def test_fewer_cells_are_empty_ones_more_cells_refuse_the_line():
    lines = parse(f"{HEADER}\n{LEARNER};{PROGRAMME};started;2020-03-02\n"
                  f"{LEARNER};{PROGRAMME};started;2020-03-02;;;extra\n"
                  f"{LEARNER};{PROGRAMME};started;2020-03-02;;;;\n")
    assert lines[0].errors == () and "hours" not in lines[0].item
    assert lines[1].errors[0]["message"] == "7 cells, but the header names 6 columns"
    assert lines[2].errors == ()  # trailing empty cells, as Excel sometimes writes them


@pytest.mark.parametrize(("written", "read"), [
    ("2020-03-02T09:00:00+01:00", "2020-03-02T09:00:00+01:00"),
    ("2020-03-02T08:00:00Z", "2020-03-02T08:00:00+00:00"),
    ("2020-03-02 09:00:00.250+01:00", "2020-03-02T09:00:00.250000+01:00"),
    ("2020-03-02 09:00", "2020-03-02T09:00:00+01:00"),
    ("2020-07-02 09:00", "2020-07-02T09:00:00+02:00"),
    ("2020-03-02 09:00:30", "2020-03-02T09:00:30+01:00"),
    ("02/03/2020 09:00", "2020-03-02T09:00:00+01:00"),
    ("02/07/2020 09:00:30", "2020-07-02T09:00:30+02:00"),
    ("2020-03-02", "2020-03-02T12:00:00+01:00"),
    ("02/07/2020", "2020-07-02T12:00:00+02:00"),
    (" 2020-03-02 ", "2020-03-02T12:00:00+01:00"),
    ("2020-10-25 02:30", "2020-10-25T02:30:00+02:00"),  # the repeated hour: the first one (summer time)
])
def test_date_formats(written, read):
    assert parse_moment(written) == read


@pytest.mark.parametrize(("written", "message"), [
    ("2020-03-02T09:00", "needs its offset"),
    ("2020-03-02T09:00:00", "needs its offset"),
    ("31/02/2020 09:00", "not a date we can read"),
    ("03/31/2020", "not a date we can read"),
    ("2 mars 2020", "not a date we can read"),
    ("43891", "not a date we can read"),  # an Excel serial number
])
def test_dates_we_do_not_guess(written, message):
    with pytest.raises(csv_import.MomentError, match=message):
        parse_moment(written)


def test_a_bad_cell_refuses_its_line_only_and_names_the_column():
    lines = parse(f"{HEADER}\n{LEARNER};{PROGRAMME};started;2020-03-02T09:00;;\n"
                  f"{LEARNER};{PROGRAMME};attendance;2020-03-03;abc;\n")
    assert lines[0].errors[0]["field"] == "occurred_at" and "Paris time" in lines[0].errors[0]["message"]
    assert lines[1].errors == ()
    with pytest.raises(ValidationError) as caught:  # what is left to FactIn
        FactIn.model_validate(lines[1].item)
    assert [e["loc"] for e in caught.value.errors()] == [("hours",)]


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ("\r\n\r\n", "the file is empty"),
    (f"{HEADER}\n\n", "no data line"),
    (f"{HEADER};colour\n", "line 1: unknown column(s) colour"),
    (f"\n{HEADER};;\n", "line 2: unknown column(s) (empty)"),
    (f"{HEADER};type\n", "line 1: column(s) type appear more than once"),
    ("learner_id;type;occurred_at\n", "missing column(s) programme_id"),
    ("learner_id\tprogramme_id\ttype\toccurred_at\n", "separated by , or ;"),
    (f'{HEADER}\n{LEARNER};{PROGRAMME};milestone;2020-03-02;;"open\n', "line 2: the file is not valid CSV"),
    (f'{HEADER}\n{LEARNER};{PROGRAMME};milestone;2020-03-02;;"a"b\n', "line 2: the file is not valid CSV"),
])
def test_files_refused_as_a_whole(text, message):
    with pytest.raises(CsvFileError) as caught:
        parse(text)
    assert message in str(caught.value) and caught.value.code == "invalid_file"


def test_a_file_not_in_utf8_is_refused_with_the_way_out():
    with pytest.raises(CsvFileError, match='save it as "CSV UTF-8"'):
        parse(f"{HEADER}\n{LEARNER};{PROGRAMME};milestone;2020-03-02;;Réussite\n".encode("cp1252"))


def test_at_most_ten_thousand_data_lines():
    line = f"{LEARNER};{PROGRAMME};attendance;2020-03-02;1;\n"
    assert len(parse(HEADER + "\n" + line * 10_000 + "\n\n")) == 10_000
    with pytest.raises(TooManyLines, match="more than 10,000 data lines") as caught:
        parse(HEADER + "\n" + line * 10_001)
    assert caught.value.code == "too_many_lines"


def test_a_line_may_name_the_enrolment_or_a_transfer_destination():
    learner, programme = "cc7bb1ba-026b-4865-bb24-66359a5ab6ef", "5024a0b8-ae69-43a0-8ca6-9de17f91a885"
    enrolment, destination = "5a0c9e1d-3b7f-4e2a-9c4d-8f1e2a3b4c5d", "2c3d4e5f-6071-4829-9a0b-1c2d3e4f5a6b"
    lines = parse("learner_id;programme_id;type;occurred_at;exit_reason;application_id;transfer_to_programme_id\n"
                  f"{learner};{programme};started;02/03/2020 09:00;;{enrolment};\n"
                  f"{learner};{programme};exited;15/05/2020;transferred;;{destination}\n")
    started, moved = (FactIn(**line.item) for line in lines)
    assert str(started.application_id) == enrolment and started.enrolment_id is None
    assert str(moved.transfer_to_programme_id) == destination and moved.exit_reason == "transferred"
