"""`parcours report`: the key figures of a year, from the outcomes service."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx

from parcours.keys import auth_headers
from shared.contracts import labels

PER_PLACE = "Applications per place"  # a ratio (4.01), where every other rate is a share
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


def _rate_rows(r: dict) -> list[tuple[str, dict]]:
    return [("Admission rate", r["admission_rate"]), (PER_PLACE, r["applications_per_place"]),
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
    rows += [(f"Exits: {labels.EXIT_REASON[reason]}", n) for reason, n in c["exits_by_reason"].items()]
    rows += [(f"Situation: {labels.SITUATION[situation]}", n) for situation, n in c["outcomes_by_situation"].items()]
    rows += [(f"Applications referred by {labels.REFERRAL[source]}", n)
             for source, n in c.get("applications_by_referral", {}).items()]
    rows += [(f"Admissions referred by {labels.REFERRAL[source]}", n)
             for source, n in c.get("admissions_by_referral", {}).items()]
    return rows


def format_table(figures: dict) -> str:
    c, r = figures["counts"], figures["rates"]
    lines = [f"Key figures {figures['year']} (definitions {figures['definitions']}; {figures['cohorts']['followups']})",
             f"Learners: {figures['cohorts']['learners']}.", f"Exits: {figures['cohorts']['exits']}.", ""]
    lines += [f"  {label:<48} {value!s:>8}" for label, value in _count_rows(c)]
    lines.append("")
    lines += [f"  {label:<48} {_pct(rate, label == PER_PLACE)}" for label, rate in _rate_rows(r)]
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


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) in a programme
# title): such a text cell is written with a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def count_columns(counts: dict) -> list[tuple[str, object]]:
    """Every count of a population, by name: nested ones (exits by reason, situations) as exits_by_reason.certified."""
    columns = []
    for key, value in counts.items():
        if isinstance(value, dict):
            columns += [(f"{key}.{sub}", n) for sub, n in value.items()]
        else:
            columns.append((key, value))
    return columns


def rate_columns(rates: dict, prefix: str = "") -> list[tuple[str, dict]]:
    """Every rate of a population, by name: positive_exit_rate.gen_2020 for the nested ones."""
    columns = []
    for key, node in rates.items():
        if "denominator" in node:
            columns.append((prefix + key, node))
        else:
            columns += rate_columns(node, f"{prefix}{key}.")
    return columns


def format_csv(figures: dict) -> str:
    """One row for the network and one per group, with every count and every rate of the JSON (each
    rate as its value, numerator and denominator); a withheld figure reads as in the JSON."""
    out = io.StringIO()
    writer = csv.writer(out)
    counts = [name for name, _ in count_columns(figures["counts"])]
    rates = [name for name, _ in rate_columns(figures["rates"])]
    header = ["year", "group_by", "group", *counts]
    for name in rates:
        header += [name, f"{name}.numerator", f"{name}.denominator"]
    writer.writerow(header)
    by = figures.get("breakdown", {}).get("by", "")
    blocks = [("network", figures)] + [(g["label"], g) for g in figures.get("breakdown", {}).get("groups", [])]
    for label, block in blocks:
        found = dict(count_columns(block["counts"]))
        row = [figures["year"], by if label != "network" else "", label, *(found.get(name) for name in counts)]
        nodes = dict(rate_columns(block["rates"]))
        for name in rates:
            node = nodes.get(name, {})
            row += [node.get("value"), node.get("numerator"), node.get("denominator")]
        writer.writerow([cell(v) for v in row])
    return out.getvalue()


def _get(url: str, **params) -> httpx.Response | str:
    """The outcomes service's answer, or what to tell the user when there is none worth reading."""
    try:
        r = httpx.get(url, params=params, timeout=120, headers=auth_headers())
    except httpx.HTTPError as exc:
        return f"cannot reach the outcomes service at {url} ({exc}); is `parcours up` running?"
    return _checked(r)


def _checked(r: httpx.Response) -> httpx.Response | str:
    if r.status_code in (401, 403):
        return (f"{r.json().get('detail')}: set PARCOURS_API_KEY to a manager key "
                "(or run from the folder of `parcours up`, whose admin key is used)")
    if r.status_code == 404:
        return r.json().get("detail", "not found")
    if r.status_code >= 300:
        return f"the outcomes service answered {r.status_code}: {r.text[:300]}"
    return r


def run_report(args) -> int:
    base = args.outcomes_url.rstrip("/")
    if args.diff_published:
        return _diff(base, args.diff_published)
    if args.network:
        return _network(base, args)
    if args.published:
        r = _answer(f"{base}/publications/{args.published}")
    else:
        params = {**_filters(args), "cohort": args.cohort, "by": args.by, "as_of": args.as_of}
        r = _answer(f"{base}/key-figures", **{k: v for k, v in params.items() if v is not None})
    if r is None:
        return 1
    figures = r.json()
    if args.published and args.format == "json":
        text = r.text  # the published bytes, exactly (their hash is the publication's)
    elif args.format == "json":
        text = json.dumps(figures, indent=2, sort_keys=True) + "\n"
    elif args.format == "csv":
        text = format_csv(figures)
    elif args.format == "html":
        from parcours.report_html import render

        text = render(figures, _count_rows(figures["counts"]), _rate_rows(figures["rates"]))
    else:
        text = format_table(figures) + "\n"
    output = args.output or (Path(f"parcours-{figures['year']}.html") if args.format == "html" else None)
    if output is None:
        print(text, end="")
    else:
        Path(output).write_bytes(text.encode("utf-8"))
        print(f"report written to {output}")
    return 0


def _filters(args) -> dict:
    """The year, the funding line and the suppression every report of figures is asked with."""
    params = {"year": args.year}
    if args.funding_line:
        params["funding_line"] = args.funding_line
    if not args.no_suppress:
        params["suppress"] = args.suppress
    return params


def _answer(url: str, **params) -> httpx.Response | None:
    """The outcomes service's answer, or None once what went wrong is printed."""
    r = _get(url, **params)
    if isinstance(r, str):
        print(f"parcours report: {r}")
        return None
    return r


def _network(base: str, args) -> int:
    r = _answer(f"{base}/network-figures", **_filters(args))
    if r is None:
        return 1
    figures = r.json()
    if args.format == "json":
        print(json.dumps(figures, indent=2, sort_keys=True))
        return 0
    modes, since = figures["mode_changes"], figures["since_launch"]
    lines = [f"The network in {figures['year']}", "", "  Target jobs (learners trained or in training):"]
    lines += [f"    {rank}. {job['job_family']:<6} {str(job.get('label') or '')[:40]:<40} {job['learners']!s:>7}"
              for rank, job in enumerate(figures["target_jobs"], start=1)]
    lines += ["", f"  Programmes running: {modes['programmes']}; delivery mode changed during the year: "
                  f"{modes['changed']} ({_pct(modes['share_changed']).strip()}), back to their usual mode by "
                  f"31 December: {modes['back_by_31_december']} ({_pct(modes['share_back']).strip()})",
              f"  People trained since {since['first_year']}: {since['people_trained']}",
              "  Positive exit rate (gen_2020) by exit cohort:"]
    lines += [f"    {row['year']}: {_pct(row)}" for row in since["positive_exit_rate_by_year"]]
    lines.append(f"    all cohorts: {_pct(since['positive_exit_rate_pooled'])}")
    print("\n".join(lines))
    return 0


def _diff(base: str, report_id: str) -> int:
    r = _answer(f"{base}/publications/{report_id}/changes")
    if r is None:
        return 1
    body = r.json()
    since = body["since"]
    print(f"Published report {body['report_id']} ({body['published_at']}, sha256 {body['sha256'][:16]}…)")
    events = ", ".join(f"{n} {kind}" for kind, n in sorted(since["events_applied"].items())) or "none"
    print(f"Since then: events applied: {events}; outcomes recorded: {since['outcomes_recorded']}, "
          f"corrected: {since['outcomes_corrected']}.")
    if not body["changed"]:
        print("No figure has changed.")
    for change in body["changed"]:
        print(f"  {change['figure']}: {change['published']} -> {change['now']}")
    return 0


def run_publish(args) -> int:
    base = args.outcomes_url.rstrip("/")
    body = {"year": args.year, "cohort": args.cohort, "suppress": args.suppress, "by": args.by,
            "funding_line": args.funding_line}
    try:
        r = _checked(httpx.post(f"{base}/publications", json=body, timeout=120, headers=auth_headers()))
    except httpx.HTTPError as exc:
        r = f"cannot reach the outcomes service at {base} ({exc}); is `parcours up` running?"
    if isinstance(r, str):
        print(f"parcours publish: {r}")
        return 1
    p = r.json()
    print(f"published {p['report_id']} (year {p['year']}, sha256 {p['sha256']})")
    print(f"print it again with: parcours report --published {p['report_id']} --format json|table|csv|html")
    return 0
