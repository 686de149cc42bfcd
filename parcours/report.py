"""`parcours report`: the key figures of a year, from the outcomes service."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx

from parcours.keys import auth_headers

LABELS = {
    "applications_submitted": "Applications submitted",
    "applications_admitted": "Admitted",
    "applications_waitlisted": "Waitlisted",
    "applications_rejected": "Rejected",
    "applications_withdrawn": "Withdrawn",
    "places_offered": "Places offered (sessions starting in the year)",
    "learners_started": "Learners who started (people)",
    "learners_trained_or_in_training": "Learners trained or in training (people)",
    "exits_total": "Exits (enrolments, transfers excluded)",
    "followups_in_scope": "Six-month follow-ups in scope",
    "followups_exempt": "Follow-ups exempt",
    "outcomes_recorded": "Situations known at six months",
}


def _pct(rate: dict) -> str:
    if rate["value"] is None:
        return "n/a (0/0)"
    return f"{100 * rate['value']:5.1f} %  ({rate['numerator']}/{rate['denominator']})"


def _rate_rows(r: dict) -> list[tuple[str, dict]]:
    return [("Admission rate", r["admission_rate"]), ("Applications per place", r["applications_per_place"]),
            ("Share baccalauréat or lower", r["share_bac_or_lower"]), ("Share women", r["share_women"]),
            ("Share QPV", r["share_qpv"]), ("Share ZRR", r["share_zrr"]),
            ("Share job seekers", r["share_job_seekers"]), ("Share under 26", r["share_under_26"]),
            ("Completion rate", r["completion_rate"]), ("Certification rate", r["certification_rate"]),
            ("Drop-out rate", r["dropout_rate"]), ("Follow-up response rate", r["response_rate"]),
            ("Positive exit rate (gen_2020)", r["positive_exit_rate"]["gen_2020"]),
            ("  of which digital job", r["share_digital_job"]),
            ("  of which further study", r["share_further_study"]),
            ("Positive exit (employment_or_study_v1)", r["positive_exit_rate"]["employment_or_study_v1"]),
            ("Positive exit (durable_employment_v1)", r["positive_exit_rate"]["durable_employment_v1"]),
            ("Positive exit, unknown = not positive", r["positive_exit_rate_strict"]["gen_2020"])]


def _pct(rate: dict, per_place: bool = False) -> str:
    value = rate["value"]
    if isinstance(value, str):
        return value  # withheld for publication: "<N"
    if value is None:
        return "n/a (0/0)"
    if per_place:
        return f"{value:.2f}  ({rate['numerator']}/{rate['denominator']})"
    return f"{100 * value:5.1f} %  ({rate['numerator']}/{rate['denominator']})"


def _count_rows(c: dict) -> list[tuple[str, object]]:
    rows = [(label, c[key]) for key, label in LABELS.items()]
    rows += [(f"Exits: {reason}", n) for reason, n in c["exits_by_reason"].items()]
    rows += [(f"Situation: {situation}", n) for situation, n in c["outcomes_by_situation"].items()]
    return rows


def format_table(figures: dict) -> str:
    c, r = figures["counts"], figures["rates"]
    lines = [f"Key figures {figures['year']} (definitions {figures['definitions']}; {figures['cohorts']['followups']})",
             f"Learners: {figures['cohorts']['learners']}.", f"Exits: {figures['cohorts']['exits']}.", ""]
    lines += [f"  {label:<48} {value!s:>8}" for label, value in _count_rows(c)]
    lines.append("")
    lines += [f"  {label:<48} {_pct(rate, label == 'Applications per place')}" for label, rate in _rate_rows(r)]
    breakdown = figures.get("breakdown")
    if breakdown:
        lines += ["", f"  By {breakdown['by'].replace('_', ' ')}:",
                  f"    {'group':<34} {'applications':>12} {'learners':>9} {'exits':>6}  positive exit (gen_2020)"]
        for g in breakdown["groups"]:
            gc = g["counts"]
            lines.append(f"    {str(g['label'])[:34]:<34} {gc['applications_submitted']!s:>12} "
                         f"{gc['learners_trained_or_in_training']!s:>9} {gc['exits_total']!s:>6}  "
                         f"{_pct(g['rates']['positive_exit_rate']['gen_2020'])}")
    return "\n".join(lines)


CSV_COUNTS = ("applications_submitted", "applications_admitted", "applications_rejected", "learners_started",
              "learners_trained_or_in_training", "exits_total", "followups_in_scope", "outcomes_recorded")
CSV_RATES = (("admission_rate",), ("share_bac_or_lower",), ("share_women",), ("share_qpv",), ("completion_rate",),
             ("dropout_rate",), ("response_rate",), ("positive_exit_rate", "gen_2020"), ("share_digital_job",),
             ("share_further_study",))


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) in a programme
# title): such a text cell is written with a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def format_csv(figures: dict) -> str:
    """One row for the network and one per group; rates as values with their numerators and denominators."""
    out = io.StringIO()
    writer = csv.writer(out)
    rate_names = [".".join(path) for path in CSV_RATES]
    header = ["year", "group_by", "group", *CSV_COUNTS]
    for name in rate_names:
        header += [name, f"{name}.numerator", f"{name}.denominator"]
    writer.writerow(header)
    by = figures.get("breakdown", {}).get("by", "")
    blocks = [("network", figures)] + [(g["label"], g) for g in figures.get("breakdown", {}).get("groups", [])]
    for label, block in blocks:
        row = [figures["year"], by if label != "network" else "", label, *(block["counts"][k] for k in CSV_COUNTS)]
        for path in CSV_RATES:
            node = block["rates"]
            for key in path:
                node = node[key]
            row += [node["value"], node["numerator"], node["denominator"]]
        writer.writerow([cell(v) for v in row])
    return out.getvalue()


def run_report(args) -> int:
    url = args.outcomes_url.rstrip("/") + "/key-figures"
    params = {"year": args.year, "cohort": args.cohort}
    if args.by:
        params["by"] = args.by
    if args.suppress:
        params["suppress"] = args.suppress
    try:
        r = httpx.get(url, params=params, timeout=120, headers=auth_headers())
    except httpx.HTTPError as exc:
        print(f"parcours report: cannot reach the outcomes service at {url} ({exc}); is `parcours up` running?")
        return 1
    if r.status_code in (401, 403):
        print(f"parcours report: {r.json().get('detail')}: set PARCOURS_API_KEY to a manager key "
              "(or run from the folder of `parcours up`, whose admin key is used)")
        return 1
    if r.status_code != 200:
        print(f"parcours report: the outcomes service answered {r.status_code}: {r.text[:300]}")
        return 1
    figures = r.json()
    if args.format == "json":
        text = json.dumps(figures, indent=2, sort_keys=True) + "\n"
    elif args.format == "csv":
        text = format_csv(figures)
    elif args.format == "html":
        from parcours.report_html import render

        text = render(figures, _count_rows(figures["counts"]), _rate_rows(figures["rates"]))
    else:
        text = format_table(figures) + "\n"
    output = args.output or (Path(f"parcours-{args.year}.html") if args.format == "html" else None)
    if output is None:
        print(text, end="")
    else:
        Path(output).write_text(text, encoding="utf-8")
        print(f"report written to {output}")
    return 0
