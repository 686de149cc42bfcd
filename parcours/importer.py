"""`parcours import progress FILE.csv`: post a centre's spreadsheet of training facts to progress."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import httpx

from parcours.keys import auth_headers

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
    for line in format_report(report, str(args.file)):
        print(line)
    return 1 if report["refused"] else 0


def format_report(report: dict, name: str) -> list[str]:
    """One line per line of the file not applied, then the totals."""
    lines = []
    for r in report["results"]:
        if r["result"] == "duplicate":
            lines.append(f"line {r['line']}: duplicate (event_id {r['event_id']} was already applied)")
        elif r["result"] == "refused":
            errors = "; ".join(f"{e['field'] or 'line'}: {e['message']}" for e in r.get("errors") or ())
            lines.append(f"line {r['line']}: refused ({r['code']}) {errors or r['error']}")
    verb = "would be applied" if report["dry_run"] else "applied"
    count = f"{report['lines']} line" + ("" if report["lines"] == 1 else "s")
    lines.append(f"{name}: {count}, {report['applied']} {verb}, {report['duplicate']} duplicate, "
                 f"{report['refused']} refused" + (" (dry run: nothing was stored)" if report["dry_run"] else ""))
    return lines


def _detail(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return f"the progress service answered {r.status_code}: {r.text[:300]}"
    return f"{body.get('detail', body)} ({r.status_code})"
