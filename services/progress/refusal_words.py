"""Why a line of a spreadsheet or an LMS statement was refused or waits, in the reader's words
(issue 18): the codes the import answers, and the cells it could not read, through the pages'
catalogue. Shared by the centre's page and `parcours import progress`."""

from __future__ import annotations

from shared.contracts.labels import N_
from shared.i18n import Words

# Why a line or a statement was refused or waits, in words (the API's codes).
WHY = {
    "not_admitted": N_("no admitted application of this programme has this id"),
    "invalid_transition": N_("this fact does not follow the learner's current state"),
    "out_of_order": N_("this fact is dated before the learner's start or after the exit"),
    "ambiguous_enrolment": N_("the learner has several enrolments in this programme: name the enrolment"),
    "forbidden": N_("this programme is not one of yours"),
    "conflict": N_("this event_id was already used for another fact"),
    "refused": N_("refused"),
    "unmappable": N_("the statement does not name a learner Parcours knows (map the LMS account)"),
    "unknown_verb": N_("this verb is not a training fact"),
}
# A cell that could not be read, by pydantic's or the CSV reader's type of error.
CELL = {
    "missing": N_("missing value"),
    "literal_error": N_("unknown value"),
    "uuid_parsing": N_("not a valid identifier (UUID)"), "uuid_type": N_("not a valid identifier (UUID)"),
    "csv_date": N_("unreadable date (use 2020-03-02, 02/03/2020 or 02/03/2020 17:30)"),
    "float_parsing": N_("not a number"), "greater_than": N_("number too small"),
    "less_than_equal": N_("number too large"), "string_too_long": N_("text too long"),
}
COLUMNS = {"learner_id", "application_id", "enrolment_id", "programme_id", "type", "occurred_at", "hours",
           "milestone", "reason", "exit_reason", "dropout_cause", "event_id", "transfer_to_programme_id"}


def why(w: Words, code: str | None, fallback: str | None = None) -> str:
    return w._(WHY[code]) if code in WHY else (fallback or code or "—")


def refused_lines(w: Words, report: dict) -> list[dict]:
    """Each refused line with why, in words: the cells that could not be read, or the rule it broke."""
    shown = []
    for result in report["results"]:
        if result["result"] != "refused":
            continue
        if result.get("errors"):
            reasons = [cell(w, e) for e in result["errors"]]
        else:
            reasons = [why(w, result.get("code") or "refused", result.get("error"))]
        shown.append({"line": result["line"], "reasons": reasons})
    return shown


def cell(w: Words, error: dict) -> str:
    field = str(error.get("field") or (error.get("loc") or [""])[-1])
    problem = w._(CELL[error.get("type")]) if error.get("type") in CELL else error.get("message") or error.get("msg")
    if field in COLUMNS:
        return w._("column %(column)s: %(problem)s", column=field, problem=problem)
    return str(problem)
