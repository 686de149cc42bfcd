"""`parcours report`: the key figures of a year, from the outcomes service."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from parcours.keys import auth_headers
from services.outcomes import report_files
from services.outcomes.report_files import format_csv
from shared.contracts import labels
from shared.i18n import Words


def _pct(rate: dict, w: Words, per_place: bool = False) -> str:
    shown = report_files.shown_rate(w, rate, per_place)
    if isinstance(rate["value"], str) or rate["value"] is None:
        return shown
    return f"{shown:>8}  ({w.number(rate['numerator'])}/{w.number(rate['denominator'])})"


def format_table(figures: dict, w: Words | None = None) -> str:
    w = w or Words()
    c, r = figures["counts"], figures["rates"]
    lines = [w._("Key figures %(year)s", year=figures["year"]), report_files.who_is_counted(w, figures), ""]
    lines += [f"  {label:<60} {w.number(value):>8}" for label, value in report_files.count_rows(w, c)]
    lines.append("")
    lines += [f"  {label:<60} {_pct(rate, w, name == report_files.PER_PLACE)}"
              for name, label, rate in report_files.rate_rows(w, r)]
    breakdown = figures.get("breakdown")
    if breakdown:
        by = breakdown["by"]
        columns = [w._(name) for name in report_files.GROUP_COLUMNS]
        lines += ["", "  " + w._("By %(breakdown)s", breakdown=w._(report_files.BREAKDOWNS[by])) + ":",
                  f"    {columns[0]:<34} {columns[1]:>12} {columns[2]:>9} {columns[3]:>6}  {columns[4]}"]
        for g in breakdown["groups"]:
            gc = g["counts"]
            lines.append(f"    {report_files.group_label(w, by, g)[:34]:<34} "
                         f"{w.number(gc['applications_submitted']):>12} "
                         f"{w.number(gc['learners_trained_or_in_training']):>9} {w.number(gc['exits_total']):>6}  "
                         f"{_pct(g['rates']['positive_exit_rate']['gen_2020'], w)}")
    return "\n".join(lines)


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
    w = Words(args.lang)
    if args.published and args.format == "json":
        text = r.text  # the published bytes, exactly (their hash is the publication's)
    elif args.format == "json":
        text = json.dumps(figures, indent=2, sort_keys=True) + "\n"
    elif args.format == "csv":
        text = format_csv(figures)
    elif args.format == "html":
        from parcours.report_html import render

        text = render(figures, w)
    else:
        text = format_table(figures, w) + "\n"
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
    w = Words(args.lang)
    modes, since = figures["mode_changes"], figures["since_launch"]
    lines = [w._("The network in %(year)s", year=figures["year"]), "",
             "  " + w._("Target jobs (learners trained or in training):")]
    lines += [f"    {rank}. {job['job_family']:<6} {w.label(labels.JOB_FAMILY, job['job_family'])[:40]:<40} "
              f"{w.number(job['learners']):>7}" for rank, job in enumerate(figures["target_jobs"], start=1)]
    lines += ["", "  " + w._("Programmes running: %(running)s; delivery mode changed during the year: %(changed)s "
                             "(%(share)s), back to their usual mode by 31 December: %(back)s (%(share_back)s)",
                             running=w.number(modes["programmes"]), changed=w.number(modes["changed"]),
                             share=_pct(modes["share_changed"], w).strip(), back=w.number(modes["back_by_31_december"]),
                             share_back=_pct(modes["share_back"], w).strip()),
              "  " + w._("People trained since %(year)s: %(n)s", year=since["first_year"],
                         n=w.number(since["people_trained"])),
              "  " + w._("Positive exit rate (GEN 2020 definition) by exit cohort:")]
    lines += [f"    {row['year']}: {_pct(row, w)}" for row in since["positive_exit_rate_by_year"]]
    lines.append("    " + w._("all cohorts: %(rate)s", rate=_pct(since["positive_exit_rate_pooled"], w)))
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
