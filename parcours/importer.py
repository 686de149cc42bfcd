"""`parcours import progress FILE.csv`: post a centre's spreadsheet of training facts to progress."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import httpx

from parcours.keys import auth_headers
from services.progress import refusal_words
from shared.i18n import DEFAULT, LANGUAGES, Words, choose

TIMEOUT_SECONDS = 600  # 10,000 lines are applied one by one in a single transaction


def default_progress_url() -> str:
    port = os.environ.get("PARCOURS_PROGRESS_PORT", "8002")
    return os.environ.get("PARCOURS_PROGRESS_URL", f"http://127.0.0.1:{port}")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """`import progress FILE [--dry-run] [--progress-url URL]` under the `parcours` command."""
    imp = subparsers.add_parser("import", help="import records from a file into a service")
    what = imp.add_subparsers(dest="what", required=True, metavar="{progress}")
    progress = what.add_parser(
        "progress", help="training facts from a CSV spreadsheet (docs/progress-import.md)",
        description="Post a CSV file of training facts to the progress service and print the lines not applied. "
        "Exit status: 0 every line applied or duplicate, 1 some lines refused, 2 the file was not processed.",
    )
    progress.add_argument("file", type=Path, metavar="FILE.csv")
    progress.add_argument("--dry-run", action="store_true",
                          help="check every line as a real import would, store nothing")
    progress.add_argument("--lang", choices=LANGUAGES, default=choose(os.environ.get("PARCOURS_LANG")),
                          help=f"the language of the report (default {DEFAULT}, or PARCOURS_LANG)")
    progress.add_argument("--progress-url", default=default_progress_url(),
                          help="(default $PARCOURS_PROGRESS_URL or http://127.0.0.1:8002)")
    return imp


def run_import(args) -> int:
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"parcours import: cannot read {args.file}: {exc.strerror or exc}")
        return 2
    url = args.progress_url.rstrip("/") + "/facts/csv"
    try:
        r = httpx.post(url, content=data, params={"dry_run": "true" if args.dry_run else "false"},
                       headers={"Content-Type": "text/csv", **auth_headers()}, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        print(f"parcours import: cannot reach the progress service at {url} ({exc}); is `parcours up` running?")
        return 2
    if r.status_code != 200:
        print(f"parcours import: {args.file} was not imported: {_detail(r)}")
        return 2
    report = r.json()
    for line in format_report(report, str(args.file), Words(args.lang)):
        print(line)
    return 1 if report["refused"] else 0


def format_report(report: dict, name: str, w: Words | None = None) -> list[str]:
    """One line per line of the file not applied (why, in words, with the code for a script), then
    the totals."""
    w = w or Words()
    reasons = {r["line"]: "; ".join(r["reasons"]) for r in refusal_words.refused_lines(w, report)}
    lines = []
    for r in report["results"]:
        if r["result"] == "duplicate":
            lines.append(w._("line %(line)s: already recorded (event_id %(event_id)s)", line=r["line"],
                             event_id=r["event_id"]))
        elif r["result"] == "refused":
            lines.append(w._("line %(line)s: refused (%(code)s) %(why)s", line=r["line"], code=r["code"],
                             why=reasons[r["line"]]))
    counts = {"name": name, "count": w.n_("%(n)s line", "%(n)s lines", report["lines"]),
              "applied": report["applied"], "duplicate": report["duplicate"], "refused": report["refused"]}
    if report["dry_run"]:
        lines.append(w._("%(name)s: %(count)s, %(applied)s to apply, %(duplicate)s already recorded, %(refused)s "
                         "refused (dry run: nothing was stored)", **counts))
    else:
        lines.append(w._("%(name)s: %(count)s, %(applied)s applied, %(duplicate)s already recorded, %(refused)s "
                         "refused", **counts))
    return lines


def _detail(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return f"the progress service answered {r.status_code}: {r.text[:300]}"
    return f"{body.get('detail', body)} ({r.status_code})"
