"""Training facts from a centre's spreadsheet: CSV text → one FactIn-shaped dict per line (pure).

Only the spreadsheet's habits are handled here (separator, BOM, local dates, decimal comma,
empty cells); what a fact must contain is FactIn's business, checked by the batch.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
MAX_LINES = 10_000
# A line names its enrolment by the admitted application's id (what the centre knows), or the
# enrolment's; learner_id is for administrators, who see the network-wide id. The last column is
# the programme a transfer continues in.
COLUMNS = ("event_id", "application_id", "enrolment_id", "learner_id", "programme_id", "type", "occurred_at", "hours",
           "milestone", "reason", "exit_reason", "dropout_cause", "transfer_to_programme_id")
REQUIRED = ("programme_id", "type", "occurred_at")
NAMING = ("application_id", "enrolment_id", "learner_id")  # at least one of them
LOWERCASE = ("type", "exit_reason", "dropout_cause")  # closed lists: "Started" is read as "started"

# Naive local times are Paris time; a date alone means noon, so that it stays the same day in UTC.
LOCAL_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")
NOON = time(12)
DATE_HELP = ("use 2020-03-02T09:00:00+01:00 (ISO 8601 with an offset), 2020-03-02 09:00 or 02/03/2020 09:00 "
             "(Paris time), or 2020-03-02 or 02/03/2020 (noon, Paris time)")
DECIMAL_COMMA = re.compile(r"\d+,\d+")

# Served at GET /facts/csv/template and kept equal to docs/progress-template.csv (a test checks).
TEMPLATE = (
    "event_id;application_id;programme_id;type;occurred_at;hours;milestone;reason;exit_reason;dropout_cause\n"
    "355e5bbe-723a-430e-98e9-7651fcdf09fd;cc7bb1ba-026b-4865-bb24-66359a5ab6ef;"
    "5024a0b8-ae69-43a0-8ca6-9de17f91a885;started;2020-03-02T09:00:00+01:00;;;;;\n"
    ";cc7bb1ba-026b-4865-bb24-66359a5ab6ef;5024a0b8-ae69-43a0-8ca6-9de17f91a885;attendance;"
    "06/03/2020 17:30;7,5;;;;\n"
    ";cc7bb1ba-026b-4865-bb24-66359a5ab6ef;5024a0b8-ae69-43a0-8ca6-9de17f91a885;exited;2020-05-15;;;;"
    "dropped_out;found_job\n"
)


class CsvFileError(ValueError):
    """The file as a whole cannot be read: none of its lines is applied."""

    code = "invalid_file"


class TooManyLines(CsvFileError):
    code = "too_many_lines"


class MomentError(ValueError):
    pass


@dataclass(frozen=True)
class Line:
    number: int  # line of the file where the record starts, counting the header and empty lines
    item: dict  # the non-empty cells, ready for FactIn
    errors: tuple[dict, ...] = ()  # cells that could not be read: {field, message, type}


def parse(data: bytes | str) -> list[Line]:
    """The data lines of a CSV file, empty ones skipped. Raises CsvFileError when the file cannot be read."""
    text = _decode(data)
    delimiter = _sniff(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    lines: list[Line] = []
    last = 0
    try:
        for row in reader:
            number, last = last + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _header(number, row)
                continue
            if len(lines) == MAX_LINES:
                raise TooManyLines(f"the file has more than {MAX_LINES:,} data lines: split it into several files")
            lines.append(_line(number, header, row))
    except csv.Error as exc:
        raise CsvFileError(f"line {last + 1}: the file is not valid CSV ({exc})") from exc
    if header is None:
        raise CsvFileError("the file is empty: its first line must name the columns")
    if not lines:
        raise CsvFileError("the file has no data line under its header")
    return lines


def parse_moment(text: str) -> str:
    """An ISO 8601 moment with an offset, from the date forms a spreadsheet produces."""
    value = text.strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.combine(datetime.strptime(value, fmt).date(), NOON, PARIS).isoformat()
        except ValueError:
            pass
    for fmt in LOCAL_FORMATS:
        try:
            # fold=0: in the autumn's repeated hour, the first one (summer time) is meant.
            return datetime.strptime(value, fmt).replace(tzinfo=PARIS).isoformat()
        except ValueError:
            pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MomentError(f"not a date we can read: {DATE_HELP}") from None
    if moment.tzinfo is None:
        raise MomentError(f"an ISO 8601 date with a time needs its offset (+01:00, Z); or {DATE_HELP}")
    return moment.isoformat()


def _decode(data: bytes | str) -> str:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CsvFileError(
                f"the file is not UTF-8 text (byte {exc.start + 1}): in Excel, save it as \"CSV UTF-8\""
            ) from None
    return data.removeprefix("\ufeff")


def _sniff(text: str) -> str:
    """`;` (Excel in French) or `,`: whichever the header line has more of."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return ";" if first.count(";") > first.count(",") else ","


def _header(number: int, row: list[str]) -> list[str]:
    names = [cell.strip().lower() for cell in row]
    unknown = [name or "(empty)" for name in names if name not in COLUMNS]
    if unknown:
        raise CsvFileError(f"line {number}: unknown column(s) {', '.join(unknown)}; the columns are "
                           f"{', '.join(COLUMNS)}, separated by , or ;")
    doubled = sorted({name for name in names if names.count(name) > 1})
    if doubled:
        raise CsvFileError(f"line {number}: column(s) {', '.join(doubled)} appear more than once")
    missing = [name for name in REQUIRED if name not in names]
    if not any(name in names for name in NAMING):
        missing.insert(0, " or ".join(NAMING))
    if missing:
        raise CsvFileError(f"line {number}: missing column(s) {', '.join(missing)}")
    return names


def _line(number: int, header: list[str], row: list[str]) -> Line:
    item: dict = {}
    errors: list[dict] = []
    if any(cell.strip() for cell in row[len(header):]):
        errors.append({"field": "", "message": f"{len(row)} cells, but the header names {len(header)} columns",
                       "type": "csv_cells"})
    for name, cell in zip(header, row, strict=False):  # missing trailing cells are empty
        value = cell.strip()
        if not value:
            continue
        if name == "occurred_at":
            try:
                value = parse_moment(value)
            except MomentError as exc:
                errors.append({"field": name, "message": str(exc), "type": "csv_date"})
                continue
        elif name == "hours" and DECIMAL_COMMA.fullmatch(value):
            value = value.replace(",", ".")
        elif name in LOWERCASE:
            value = value.lower()
        item[name] = value
    return Line(number, item, tuple(errors))
