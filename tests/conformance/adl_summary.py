"""Summarise a run log of the ADL LRS conformance test suite (its console runner writes one JSON log
per run): passed and failed tests by group, each failing test named with the suite's error and, when
it fails by Parcours' choice, why; and which groups are out of scope. Standard library only.

    python tests/conformance/adl_summary.py LOG [--all] [--json]
    python tests/conformance/adl_summary.py --grep     (the runner's --grep for the groups in scope)

A "group" is one of the suite's top-level requirement sections (e.g. "Data 2.4.2", "4.1.6.1");
a test is counted at its leaves (the suite's `it` blocks), as its own summary counts them. Exit
status 1 when a test in scope fails for no reason below (a regression), else 0.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# Groups outside the LRS door's scope (issue 16: the Statement and About resources), by how their
# title begins, with why.
OUT_OF_SCOPE = {
    "Document Resource": "document resources (state, activity profile, agent profile) are not offered: "
                         "Parcours keeps training facts, not a content package's own data",
    "State Resource": "the State resource is not offered (a document resource)",
    "Agent Profile Resource": "the Agent Profile resource is not offered (a document resource)",
    "Activity Profile Resource": "the Activity Profile resource is not offered (a document resource)",
    "Agents Resource": "the Agents resource (a Person's merged identities) is not offered: learners are "
                       "pseudonymous ids, identities stay in intake",
    "Activities Resource": "the Activities resource (activity definitions) is not offered",
    "Concurrency Requirements": "ETag and If-Match concern the document resources only, which are not offered",
    "(4.1.4) Concurrency": "ETag and If-Match concern the document resources only, which are not offered",
    "Signed Statements": "signed statements are attachments (a JWS part), and attachment data is not kept: a "
                         "file could hold what Parcours must not keep (attachments are taken by fileUrl only)",
    "Alternate Request Syntax": "the alternate request syntax (method as a query parameter) is not offered: "
                                "xAPI 2.0 removed it",
}

# Why a test in scope fails by Parcours' choice, or for want of what it is not this door's to offer.
REASONS = {
    "mbox": "an mbox is kept as its mbox_sha1sum (e-mail addresses never leave intake): the agent read back "
            "is the same agent under its SHA-1 identifier, not the address sent",
    "attachment data": "attachment data is not kept (attachments by fileUrl only): a request sending some is "
                       "refused 400, so the statements these tests read back were never stored",
    "not offered": "the Activities, Agents, State and profile resources are not offered (see the groups out "
                   "of scope)",
    "no version": "a request without X-Experience-API-Version is answered in the latest version spoken, "
                  "2.0.0: the 1.0.3 suite wants 1.0.3 there, the 2.0 suite 2.0.0, and one answer cannot be both",
    "signed": "it compares a statement with its signature: signed statements are attachments, not kept",
}
# Each failing test's title (a part of it, under its group) and its reason.
KNOWN_FAILURES = (
    ('using GET with "format" absent', "mbox"), ('using GET with "format" canonical', "mbox"),
    ('using GET with "format" exact', "mbox"), ('using GET with "format" ids', "mbox"),
    ('XAPI-00164) > should return StatementResult with statements as array using GET with "agent"', "mbox"),
    ('XAPI-00164) > should return StatementResult with statements as array using GET with "related_agents"',
     "mbox"),
    ("should not convert newer version format to prior version format", "mbox"),
    ('should succeed when attachment is raw data and request content-type is "multipart/mixed"',
     "attachment data"),
    ("XAPI-00167", "attachment data"), ("XAPI-00161", "attachment data"),
    ('XAPI-00164) > should return StatementResult with statements as array using GET with "attachments"',
     "attachment data"),
    ("should succeed HEAD activities", "not offered"), ("should succeed HEAD agents", "not offered"),
    ("using Activities Endpoint", "not offered"), ("using Activities Profile Endpoint", "not offered"),
    ("using Activities State Endpoint", "not offered"), ("using Agents Endpoint", "not offered"),
    ("using Agents Profile Endpoint", "not offered"),
    ("When storing or comparing IRIs", "not offered"),
    ('when Statement GET without header "X-Experience-API-Version"', "no version"),
    ('when Statement POST without header "X-Experience-API-Version"', "no version"),
    ('when Statement PUT without header "X-Experience-API-Version"', "no version"),
    ("When comparing Durations (or Statements containing them)", "signed"),
)


def out_of_scope(title: str) -> str | None:
    return next((why for start, why in OUT_OF_SCOPE.items() if title.startswith(start)), None)


def known_reason(test: str) -> str | None:
    return next((REASONS[why] for part, why in KNOWN_FAILURES if part in test), None)


def grep() -> str:
    """A pattern for the runner's --grep (matched against each test's full title, which begins with
    its group's): every test but those of out-of-scope groups."""
    return "^(?!(" + "|".join(re.escape(start).replace("\\ ", " ") for start in OUT_OF_SCOPE) + "))"


def leaves(node: dict, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], dict]]:
    """Every test (a node without children) with the titles above it."""
    here = (*path, node.get("title", ""))
    children = node.get("tests") or []
    if not children:
        return [(here, node)]
    return [leaf for child in children for leaf in leaves(child, here)]


def summary(log: dict) -> list[dict]:
    """One row per group run: its title, counts, whether in scope, and its failing tests."""
    rows = []
    for group in log["log"].get("tests", []):
        tests = [(path, node) for path, node in leaves(group) if node.get("status") in ("passed", "failed")]
        if not tests:
            continue  # a group the run left out (--grep)
        failed = [" > ".join(path[1:]) for path, node in tests if node.get("status") == "failed"]
        errors = [_error(node.get("error")) for _, node in tests if node.get("status") == "failed"]
        rows.append({
            "group": group["title"],
            "passed": len(tests) - len(failed),
            "failed": len(failed),
            "out_of_scope": out_of_scope(group["title"]),
            "failures": [{"test": test, "error": error, "why": known_reason(test)}
                         for test, error in zip(failed, errors, strict=True)],
        })
    return rows


def _error(error: str | None) -> str:
    first = (error or "no error given").strip().splitlines()[0]
    return re.sub(r"\s+", " ", first)


def unexplained(rows: list[dict]) -> list[dict]:
    return [f for r in rows if not r["out_of_scope"] for f in r["failures"] if f["why"] is None]


def printed(rows: list[dict], every: bool) -> str:
    lines = [f"{'group':<78} {'passed':>6} {'failed':>6}  scope"]
    for row in rows:
        scope = "out" if row["out_of_scope"] else "in"
        lines.append(f"{row['group'][:78]:<78} {row['passed']:>6} {row['failed']:>6}  {scope}")
    inside = [r for r in rows if not r["out_of_scope"]]
    failed = sum(r["failed"] for r in inside)
    lines.append(f"in scope: {sum(r['passed'] for r in inside)} passed, {failed} failed "
                 f"({failed - len(unexplained(rows))} for a reason below, {len(unexplained(rows))} unexplained)")
    for row in rows:
        if row["failures"] and (every or not row["out_of_scope"]):
            lines.append(f"\n{row['group']}" + (f"  [out of scope: {row['out_of_scope']}]" if row["out_of_scope"]
                                                 else ""))
            for f in row["failures"]:
                why = "" if row["out_of_scope"] else f"\n      why: {f['why'] or 'UNEXPLAINED'}"
                lines.append(f"  - {f['test']}\n      {f['error']}{why}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, nargs="?", help="the run log the suite's console runner wrote "
                                                          "(logs/<uuid>.log)")
    parser.add_argument("--grep", action="store_true", help="print the runner's --grep pattern for the groups "
                                                            "in scope, and nothing else")
    parser.add_argument("--all", action="store_true", help="also list the failures of out-of-scope groups")
    parser.add_argument("--json", action="store_true", help="the rows as JSON instead of text")
    args = parser.parse_args(argv)
    if args.grep or args.log is None:
        print(grep())
        return 0
    rows = summary(json.loads(args.log.read_text()))
    print(json.dumps(rows, indent=2) if args.json else printed(rows, args.all))
    return 1 if unexplained(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
