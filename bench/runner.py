"""Runs the measures in order on one embedded stack, writes the JSON, prints the table."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import consume, end_to_end, fetch_latency, http_ingest, outbox, scale_out, xapi_ingest, year
from bench.infra import REPO, Infra, log, wait_quiet
from bench.results import Result, table, write


@dataclass(frozen=True)
class Sizes:
    consume_events: int
    outbox_events: int
    http_learners: int
    http_workers: int
    http_batch_seconds: float
    http_single_seconds: float
    http_max_seconds: float
    xapi_learners: int
    xapi_history: int  # facts of history per enrolment before the xAPI batches
    xapi_batches: int
    e2e_seconds: float
    e2e_light_seconds: float
    kafka_messages: int
    scale_events: int
    year_scale: float
    year_budget: float  # the most the simulated year may take
    idle_seconds: float  # the stack at rest after the year, measured this long
    total_budget: float  # the whole run should end within this
    quiet_wait: float  # before a measure, wait this long at most for other processes to go quiet


QUICK = Sizes(consume_events=10_000, outbox_events=20_000, http_learners=2_000, http_workers=2,
              http_batch_seconds=4, http_single_seconds=5, http_max_seconds=3, xapi_learners=200, xapi_history=100,
              xapi_batches=10, e2e_seconds=5, e2e_light_seconds=3,
              kafka_messages=20, scale_events=10_000, year_scale=0.02, year_budget=120, idle_seconds=20,
              total_budget=270,
              quiet_wait=3)
FULL = Sizes(consume_events=50_000, outbox_events=100_000, http_learners=10_000, http_workers=4,
             http_batch_seconds=15, http_single_seconds=20, http_max_seconds=10, xapi_learners=200, xapi_history=500,
             xapi_batches=6, e2e_seconds=30, e2e_light_seconds=6,
             kafka_messages=30, scale_events=50_000, year_scale=1.0, year_budget=560, idle_seconds=60,
             total_budget=940,
             quiet_wait=10)


def _consume(infra: Infra, s: Sizes, left: float) -> list[Result]:
    return asyncio.run(consume.measure(infra, s.consume_events, timeout=max(60.0, s.consume_events / 250)))


def _outbox(infra: Infra, s: Sizes, left: float) -> list[Result]:
    return asyncio.run(outbox.measure(infra, s.outbox_events, timeout=120))


def _http(infra: Infra, s: Sizes, left: float) -> list[Result]:
    return asyncio.run(http_ingest.measure(infra, s.http_learners, s.http_workers, s.http_batch_seconds,
                                           s.http_single_seconds, s.http_max_seconds, timeout=120))


def _xapi(infra: Infra, s: Sizes, left: float) -> list[Result]:
    return asyncio.run(xapi_ingest.measure(infra, s.xapi_learners, s.xapi_history, s.xapi_batches, timeout=120))


def _e2e(infra: Infra, s: Sizes, left: float) -> list[Result]:
    results = asyncio.run(end_to_end.measure(infra, s.e2e_seconds, light_seconds=s.e2e_light_seconds))
    return results + asyncio.run(fetch_latency.measure(infra, s.kafka_messages))


def _scale(infra: Infra, s: Sizes, left: float) -> list[Result]:
    return asyncio.run(scale_out.measure(infra, s.scale_events, timeout=max(60.0, s.scale_events / 250)))


def _year(infra: Infra, s: Sizes, left: float) -> list[Result]:
    infra.stop_brokers()  # `parcours up` brings its own PostgreSQL and broker
    budget = max(60.0, min(s.year_budget, left - 45))
    return year.measure(infra, s.year_scale, budget, s.idle_seconds)


MEASURES: list[tuple[str, str, Callable[[Infra, Sizes, float], list[Result]]]] = [
    ("consume", "raw ceiling and consume-to-durable (progress, outcomes)", _consume),
    ("outbox", "outbox relay vs bare aiokafka", _outbox),
    ("http", "HTTP ingestion at progress", _http),
    ("xapi", "xAPI statements at progress, in order and late", _xapi),
    ("e2e", "end-to-end latency intake -> outcomes; the broker hop alone", _e2e),
    ("scale", "scale-out: two progress instances vs one", _scale),
    ("year", "a simulated year through parcours up", _year),
]


def _outside_loads(details) -> list[float]:
    found = []
    if isinstance(details, dict):
        for key, value in details.items():
            if key == "outside_bench_cores" and isinstance(value, int | float):
                found.append(float(value))
            else:
                found.extend(_outside_loads(value))
    elif isinstance(details, list):
        for value in details:
            found.extend(_outside_loads(value))
    return found


def flag_disturbance(result: Result, threshold: float = 0.3) -> None:
    """Say so when processes outside the benchmark took CPU during a measure (a shared machine)."""
    loads = _outside_loads(result.details)
    worst = max(loads, default=0.0)
    result.details["outside_bench_cores_max"] = worst
    if worst > threshold:
        text = f"disturbed: other processes used up to {worst:.1f} cores during the measure"
        result.note = f"{result.note}; {text}" if result.note else text


def _git() -> dict:
    def run(*args: str) -> str:
        with contextlib.suppress(Exception):
            return subprocess.run(["git", "--no-optional-locks", *args], cwd=REPO, capture_output=True,
                                  text=True, timeout=10).stdout.rstrip()
        return ""

    return {"commit": run("rev-parse", "HEAD").strip(),
            "changed_files": [line[3:] for line in run("status", "--porcelain").splitlines()]}


def _loadavg() -> list[float]:
    with contextlib.suppress(OSError):
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Parcours performance benchmark")
    parser.add_argument("--quick", action="store_true", help="the same measures, small (a minute or two)")
    parser.add_argument("--only", help="comma-separated measures: " + ",".join(k for k, _, _ in MEASURES))
    parser.add_argument("--out", type=Path,
                        help="results file (default bench/results/latest.json, latest-quick.json with --quick)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) for inspection")
    parser.add_argument("--no-gc-log", dest="gc_log", action="store_false",
                        help="do not log the services' garbage collections over 5 ms (bench/gcprobe, an observer "
                             "loaded through PYTHONPATH; on by default)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample the services with py-spy during each timed phase; folded stacks written to DIR")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    only = set(args.only.split(",")) if args.only else None
    if only and only - {k for k, _, _ in MEASURES}:
        parser.error(f"unknown measure(s): {', '.join(sorted(only - {k for k, _, _ in MEASURES}))}")
    mode = "quick" if args.quick else "full"

    def on_signal(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    infra = Infra(keep=args.keep, profile_dir=args.profile, gc_log=args.gc_log)
    results: list[Result] = []
    timings: dict[str, float] = {}
    load_before = _loadavg()
    log(f"bench ({mode}): {os.cpu_count()} cores, working folder {infra.root}")
    interrupted = False
    try:
        infra.start_postgres()
        chosen = [m for m in MEASURES if only is None or m[0] in only]
        for n, (key, title, run) in enumerate(chosen, 1):
            left = sizes.total_budget - (time.monotonic() - t0)
            outside = wait_quiet(infra, sizes.quiet_wait)
            left = sizes.total_budget - (time.monotonic() - t0)
            log(f"[{n}/{len(chosen)}] {title}" + (f" (other processes use {outside:.1f} cores)" if outside > 0.3
                                                  else ""))
            t = time.monotonic()
            try:
                measured = run(infra, sizes, left)
            finally:
                infra.stop_services()
            for result in measured:
                flag_disturbance(result)
            results.extend(measured)
            timings[key] = round(time.monotonic() - t, 1)
    except KeyboardInterrupt:
        interrupted = True
        log("bench: interrupted; cleaning up")
    finally:
        infra.close()
    elapsed = time.monotonic() - t0
    extra = {"sizes": sizes.__dict__, "seconds_per_measure": timings, "loadavg_before": load_before,
             "loadavg_after": _loadavg(), "commit_timestamps": infra.commit_timestamps, "git": _git(),
             "interrupted": interrupted}
    path = write(results, mode, started_at, elapsed, extra, args.out)
    print(f"\nParcours bench ({mode}), {os.cpu_count()} cores, {started_at:%Y-%m-%d %H:%M} UTC, "
          f"{elapsed:.0f}s\n")
    print(table(results))
    print(f"\nwritten to {path}")
    return 130 if interrupted else 0
