"""The `parcours` command line: one sub-command per thing a person does by hand."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from parcours import importer, keys
from parcours.stack import quiet_runtime_dir
from services.outcomes.schemas import BREAKDOWN_NAMES
from shared.contracts.vocabulary import FUNDING_LINES
from shared.i18n import DEFAULT, LANGUAGES, choose


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"PARCOURS_{name.upper()}_PORT", default))


def _url(name: str, default_port: int) -> str:
    return os.environ.get(f"PARCOURS_{name.upper()}_URL", f"http://127.0.0.1:{_port(name, default_port)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parcours",
        description="Follow every learner of a training network from application to six months after.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start PostgreSQL, the broker and the three services; Ctrl-C stops them")
    up.add_argument("--state-dir", type=Path, default=Path(os.environ.get("PARCOURS_STATE_DIR", ".parcours")),
                    help="folder for the data and logs (default .parcours)")
    up.add_argument("--intake-port", type=int, default=_port("intake", 8001))
    up.add_argument("--progress-port", type=int, default=_port("progress", 8002))
    up.add_argument("--outcomes-port", type=int, default=_port("outcomes", 8003))
    up.add_argument("--kafka-port", type=int, default=None,
                    help="port of the embedded broker (default 9092, or a free one)")
    up.add_argument("--with-prometheus", action="store_true",
                    help="also start a real Prometheus scraping the services, with the alert rules")
    up.add_argument("--prometheus-port", type=int, default=9090, help="(default 9090, or a free one)")

    urls = argparse.ArgumentParser(add_help=False)
    urls.add_argument("--intake-url", default=_url("intake", 8001))
    urls.add_argument("--progress-url", default=_url("progress", 8002))
    urls.add_argument("--outcomes-url", default=_url("outcomes", 8003))

    sim = sub.add_parser("simulate", parents=[urls],
                         help="drive a realistic year of the network through the public APIs")
    sim.add_argument("--year", type=int, default=2020)
    sim.add_argument("--scale", type=float, default=0.05, help="1.0 is about 50,000 applications")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--truth", type=Path, help="write the ground truth (the counts it generated) to this file")
    sim.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the services to catch up")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")

    rep = sub.add_parser("report", parents=[urls], help="print the key figures of a year")
    rep.add_argument("--year", type=int, default=2020)
    rep.add_argument("--format", choices=["table", "csv", "json", "html"], default="table")
    rep.add_argument("--by", choices=BREAKDOWN_NAMES,
                     help="break the figures down by this programme attribute")
    rep.add_argument("--funding-line", choices=FUNDING_LINES,
                     help="only the programmes of this funding line (each funder is reported to separately)")
    rep.add_argument("--cohort", choices=["exit", "entry"], default="exit",
                     help="follow-up figures for learners who left (exit, default) or started (entry) in the year")
    rep.add_argument("--suppress", type=int, metavar="N", default=20,
                     help="withhold counts under N, and those that would give them away, shown as s "
                          "(default 20: every output can be published)")
    rep.add_argument("--no-suppress", action="store_true",
                     help="show every figure, small ones included: for internal use, never to publish")
    rep.add_argument("--lang", choices=LANGUAGES, default=choose(os.environ.get("PARCOURS_LANG")),
                     help=f"the language of the table and HTML report (default {DEFAULT}, or PARCOURS_LANG)")
    rep.add_argument("--output", type=Path, help="write to this file (html defaults to parcours-YEAR.html)")
    rep.add_argument("--as-of", metavar="MOMENT",
                     help="the figures as known at this moment (ISO 8601, e.g. 2021-06-30T18:00:00+02:00): late "
                          "facts and corrections recorded after it are ignored")
    rep.add_argument("--network", action="store_true",
                     help="the figures the network publishes beyond the rates: target jobs ranked, delivery-mode "
                          "changes, people trained since the first year, the positive exit rate over the years")
    rep.add_argument("--published", metavar="ID", help="a published report, exactly as published (parcours publish)")
    rep.add_argument("--diff-published", metavar="ID",
                     help="what changed since this report was published, figure by figure, and why")

    pub = sub.add_parser("publish", parents=[urls],
                         help="freeze the key figures of a year for publication (stored with their hash)")
    pub.add_argument("--year", type=int, default=2020)
    pub.add_argument("--by", choices=BREAKDOWN_NAMES, help="break the figures down by this programme attribute")
    pub.add_argument("--funding-line", choices=FUNDING_LINES, help="only the programmes of this funding line")
    pub.add_argument("--cohort", choices=["exit", "entry"], default="exit")
    pub.add_argument("--suppress", type=int, metavar="N", default=20,
                     help="withhold counts under N and those that would give them away (default 20)")

    databases = argparse.ArgumentParser(add_help=False)
    databases.add_argument("--service", choices=["intake", "progress", "outcomes"], action="append",
                           help="only this service (repeatable; default all three)")
    databases.add_argument("--state-dir", type=Path, default=Path(os.environ.get("PARCOURS_STATE_DIR", ".parcours")),
                           help="state folder of `parcours up`, to find its databases (default .parcours); "
                                "PARCOURS_<SERVICE>_DATABASE_URL wins when set")

    sub.add_parser("migrate", parents=[databases], help="apply the database migrations of every service")

    res = sub.add_parser("resync", parents=[databases],
                         help="re-publish from the outboxes every event recorded since a moment (after a lost broker)")
    res.add_argument("--since", required=True, help="ISO 8601 moment, e.g. 2026-11-23T10:00:00Z")

    ers = sub.add_parser("erasures", parents=[databases],
                         help="the list of learners erased (the union of the services' lists), as JSON lines: "
                              "keep a copy outside the backups")
    ers.add_argument("--output", type=Path, help="write it to this file (default: print it)")
    chk = sub.add_parser("restore-check", parents=[databases],
                         help="after restoring a database: apply every erasure again (run it before resync)")
    chk.add_argument("--erasures", type=Path, action="append",
                     help="an exported list (parcours erasures --output) to apply as well (repeatable)")

    importer.add_parser(sub)
    keys.add_parser(sub)

    dlq = sub.add_parser("dlq", help="messages set aside as poison: list them, re-drive them after a fix")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_sub.add_parser("list", parents=[databases], help="dead letters waiting (or --all)")
    dlq_list.add_argument("--all", action="store_true", help="include those already replayed")
    dlq_list.add_argument("--reason", help="only this reason (undecodable, invalid_schema, refused, ...)")
    dlq_list.add_argument("--limit", type=int, default=100)
    dlq_replay = dlq_sub.add_parser("replay", parents=[databases], help="re-deliver dead letters to their topic")
    dlq_replay.add_argument("--id", type=int, action="append", help="this dead letter (repeatable)")
    dlq_replay.add_argument("--all", action="store_true", help="every dead letter waiting (of --reason)")
    dlq_replay.add_argument("--reason", help="with --all: only this reason")
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_runtime_dir()
    args = build_parser().parse_args(argv)
    if args.command == "up":
        from parcours.up import run_up

        ports = {"intake": args.intake_port, "progress": args.progress_port, "outcomes": args.outcomes_port}
        return run_up(args.state_dir, ports, args.kafka_port,
                      args.prometheus_port if args.with_prometheus else None)
    if args.command == "simulate":
        from parcours.simulate import run_simulate

        return run_simulate(args)
    if args.command == "report":
        from parcours.report import run_report

        return run_report(args)
    if args.command == "publish":
        from parcours.report import run_publish

        return run_publish(args)
    if args.command == "keys":
        return keys.run_keys(args)
    if args.command == "import":
        return importer.run_import(args)
    if args.command in ("migrate", "resync", "dlq", "erasures", "restore-check"):
        from parcours.admin import run_admin

        return run_admin(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
