"""Measure 6: a full simulated year through `parcours up` + `parcours simulate`, wall time and memory.

`parcours up` runs in a temporary state folder on free ports (its own embedded PostgreSQL
and broker). The three services are its children, found by their command line
(`-m services.<name>`) among the children of that `parcours up` only, so other copies
of the services running on the machine are never measured. Their VmRSS is sampled twice a
second while `parcours simulate --scale S` runs, then while a second, smaller year goes
through the same processes; the peaks of the two years are compared (flat = the second
year's peak within 10 % of the first's), and VmHWM is read at the end. The simulate run is
bounded; when cut off, the share of events outcomes had applied is reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx

from bench.infra import (
    CpuMeter,
    Infra,
    children_of,
    cpu_seconds,
    descendants,
    log,
    postmaster_tree,
    rss_kb,
    stop_process,
)
from bench.results import Result, failed
from parcours.stack import SERVICES, free_port

WALL_TARGET = 300.0
RSS_TARGET_MB = 300.0
FLAT_TARGET = 1.10
IDLE_TARGET_CORES = 0.05
IDLE_SETTLE_SECONDS = 5.0


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def service_pids(up_pid: int) -> dict[str, int]:
    """The services started by this `parcours up` (its direct children), by name."""
    found = {}
    for pid in children_of(up_pid):
        args = _cmdline(pid)
        for name in SERVICES:
            if any(a == "-m" and b == f"services.{name}" for a, b in zip(args, args[1:], strict=False)):
                found[name] = pid
    return found


class RssSampler(threading.Thread):
    def __init__(self, pids: dict[str, int], interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.interval = interval
        self.samples: dict[str, list[tuple[float, int]]] = {name: [] for name in pids}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            now = time.monotonic()
            for name, pid in self.pids.items():
                kb = rss_kb(pid)
                if kb is not None:
                    self.samples[name].append((now, kb))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


class PhaseClock(threading.Thread):
    """Reads `parcours simulate`'s output (its progress bar names the phase it is in) into its log,
    noting when each phase was first and last seen, so the year's time can be split by phase."""

    BAR = re.compile(r"^(?P<phase>[a-z][a-z ]+?)\s+\[[#.]+\] (?P<done>\d+)/(?P<total>\d+)")

    def __init__(self, process: subprocess.Popen, log_path: Path) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.log_path = log_path
        self.seen: dict[str, list[float]] = {}

    def run(self) -> None:
        with open(self.log_path, "ab") as out:
            pending = b""
            while True:
                chunk = self.process.stdout.read1(65536) if self.process.stdout else b""
                if not chunk:
                    break
                out.write(chunk)
                pending += chunk
                *segments, pending = re.split(rb"[\r\n]", pending)
                now = time.monotonic()
                for segment in segments:
                    match = self.BAR.match(segment.decode(errors="replace").strip())
                    if match:
                        times = self.seen.setdefault(match["phase"].strip(), [now, now])
                        times[1] = now

    def durations(self, started: float, ended: float) -> dict[str, dict]:
        """Each phase: when it was first seen (seconds after the start) and how long until the next began."""
        ordered = sorted(self.seen.items(), key=lambda kv: kv[1][0])
        out = {}
        for n, (phase, (first, _)) in enumerate(ordered):
            until = ordered[n + 1][1][0] if n + 1 < len(ordered) else ended
            out[phase] = {"from_s": round(first - started, 1), "seconds": round(until - first, 1)}
        return out


def _wait_for_line(path: Path, text: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"parcours up exited: {path.read_text(errors='replace')[-800:]}")
        if path.exists() and any(line.strip() == text for line in path.read_text(errors="replace").splitlines()):
            return
        time.sleep(0.25)
    raise TimeoutError(f"parcours up did not print {text!r} within {timeout:.0f}s")


def _expected_events(scale: float) -> int:
    from parcours.simulation.world import generate

    world = generate(2020, scale, 1, date.today())
    facts = sum(len(t.facts) for _, t in world.trainings())
    return len(world.programmes) + 2 * len(world.applications) + facts  # a lower bound (sessions, no-shows...)


AGAIN_SCALE = 0.5


def _second_year(infra: Infra, urls: dict, env: dict, scale: float, budget: float) -> dict | None:
    """Another year (2019, seed 2) through the same services, for the memory measure; None if cut off."""
    args = [sys.executable, "-m", "parcours.cli", "simulate", "--year", "2019", "--scale", f"{scale:g}",
            "--seed", "2", "--quiet", "--timeout", f"{max(60.0, budget):.0f}",
            *[f"--{s}-url={u}" for s, u in urls.items()]]
    log(f"  memory: a second year through the same services (scale {scale:g}, at most {budget:.0f}s)")
    started = time.monotonic()
    sim = infra.popen(args, "simulate-again.log", env=env)
    try:
        if sim.wait(budget) != 0:
            return None
    except subprocess.TimeoutExpired:
        stop_process(sim, 5)
        return None
    return {"scale": scale, "seconds": time.monotonic() - started}


def idle_cost(groups: dict[str, Callable[[], list[int]]], seconds: float) -> Result:
    """The stack at rest after the year: the cores its processes use while nothing is asked of them
    (`groups`: each part's pids; the harness and `parcours simulate` are not among them)."""
    log(f"  at rest: {IDLE_SETTLE_SECONDS:.0f}s to settle, then {seconds:.0f}s measured")
    time.sleep(IDLE_SETTLE_SECONDS)
    before = {name: sum(cpu_seconds(p) or 0.0 for p in pids()) for name, pids in groups.items()}
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    after = {name: sum(cpu_seconds(p) or 0.0 for p in pids()) for name, pids in groups.items()}
    parts = {name: max(0.0, after[name] - before[name]) / elapsed for name in groups}
    total = sum(parts.values())
    log("  at rest: " + ", ".join(f"{k} {v:.3f}" for k, v in parts.items()) + f"; total {total:.3f} cores")
    return Result("idle.cores", total, "cores", target=IDLE_TARGET_CORES, op="<",
                  details={"seconds": round(elapsed, 1), "parts_cores": {k: round(v, 4) for k, v in parts.items()}})


def measure(infra: Infra, scale: float, budget: float, idle_seconds: float = 60.0) -> list[Result]:
    name = "year.wall_time"
    up = None
    sampler = None
    pids: dict[str, int] = {}
    try:
        state = infra.root / "year-state"
        ports = {s: free_port() for s in SERVICES}
        up_log = infra.logs / "parcours-up.log"
        env = dict(os.environ)
        for s in SERVICES:  # the bench's own variables must not leak into `parcours up`
            env.pop(f"PARCOURS_{s.upper()}_DATABASE_URL", None)
        env.pop("PARCOURS_KAFKA_BOOTSTRAP_SERVERS", None)
        env.pop("PARCOURS_DATABASE_URL", None)
        env.pop("PARCOURS_API_KEY", None)
        env["PARCOURS_STATE_DIR"] = str(state)  # `parcours simulate` takes the admin key `parcours up` recorded
        up_started = time.monotonic()
        up = infra.popen([sys.executable, "-m", "parcours.cli", "up", "--state-dir", str(state),
                          "--kafka-port", str(free_port()), *[f"--{s}-port={p}" for s, p in ports.items()]],
                         "parcours-up.log", env=env)
        _wait_for_line(up_log, "ready", up, 180)
        up_seconds = time.monotonic() - up_started
        pids = service_pids(up.pid)
        if set(pids) != set(SERVICES):
            raise RuntimeError(f"found services {sorted(pids)} under parcours up (pid {up.pid})")
        sampler = RssSampler(pids)
        sampler.start()
        urls = {s: f"http://127.0.0.1:{p}" for s, p in ports.items()}
        sim_args = [sys.executable, "-m", "parcours.cli", "simulate", "--year", "2020", "--scale", f"{scale:g}",
                    "--seed", "1", "--timeout", f"{max(60.0, budget):.0f}",
                    *[f"--{s}-url={u}" for s, u in urls.items()]]
        sim_log = infra.logs / "simulate.log"
        log(f"  parcours up ready in {up_seconds:.0f}s; simulate --scale {scale:g} (at most {budget:.0f}s)")
        sim = infra.popen(sim_args, "simulate.log", env=env, stdout=subprocess.PIPE)
        phases = PhaseClock(sim, sim_log)
        phases.start()
        started = time.monotonic()
        meter = CpuMeter(infra, {"parcours_up": lambda: [p for p in descendants(up.pid) if p not in pids.values()],
                                 **{s: (lambda pid=pid: [pid]) for s, pid in pids.items()},
                                 "postgres_of_up": lambda: postmaster_tree(state / "pg")})
        meter.start()
        try:
            code = sim.wait(budget)
            finished = code == 0
        except subprocess.TimeoutExpired:
            code, finished = None, False
            stop_process(sim, 5)
        wall = time.monotonic() - started
        phases.join(5)
        cpu = meter.stop()
        output = sim_log.read_text(errors="replace")
        summary = re.search(r"simulated .*? (\d+) events applied by outcomes, .*?in ([\d.]+)s", output)
        events = int(summary.group(1)) if summary else None
        applied = None
        if not finished:
            with contextlib.suppress(Exception):
                key = json.loads((state / "stack.json").read_text()).get("admin_key") \
                    if (state / "stack.json").exists() else None
                stats = httpx.get(urls["outcomes"] + "/stats", timeout=10,
                                  headers={"Authorization": f"Bearer {key}"} if key else {}).json()
                applied = sum(stats["events_applied"].values())
            with contextlib.suppress(Exception):
                events = _expected_events(scale)
        log(f"  simulate: {'finished' if finished else 'cut off'} after {wall:.0f}s"
            + (f" ({applied} of {events} events applied)" if applied is not None else ""))
        note = ""
        if not finished:
            share = f"{applied} of {events} events applied by outcomes" if applied is not None else "see simulate.log"
            note = f"not finished within the {budget:.0f}s budget ({share}; exit code {code})"
            if applied and events:
                note += f"; at that pace the year would take about {wall * events / applied:.0f}s"
        if scale != 1.0:
            note = "; ".join(filter(None, [note, f"scale {scale:g}: the target is for a year at scale 1.0"]))
        results = [Result(name, wall, "s", target=WALL_TARGET, op="<", met=None if finished else False, note=note,
                          details={"scale": scale, "finished": finished, "events": events,
                                   "events_applied_at_cutoff": applied,
                                   "events_per_s": (events / wall) if finished and events else None,
                                   "parcours_up_start_seconds": up_seconds,
                                   "phase_seconds": phases.durations(started, started + wall),
                                   "cpu (harness includes parcours simulate)": cpu,
                                   "simulate_tail": output.strip().splitlines()[-3:]})]
        # Flat: the same services take a second, different year; what they keep must not grow with
        # the events processed. (Halves of one run compare phases instead: progress idles through
        # the applications and works in the facts phase, so its working set arrives in the second.)
        boundary, again = time.monotonic(), None
        left = budget - wall - 15
        if finished and left > 60:
            again = _second_year(infra, urls, env, min(scale, AGAIN_SCALE), left)
        hwm = {s: rss_kb(pid, "VmHWM") for s, pid in pids.items()}
        sampler.stop()
        if finished:
            results.append(idle_cost({
                "broker": lambda: [p for p in descendants(up.pid) if "tansu" in " ".join(_cmdline(p))],
                "supervisor": lambda: [up.pid],
                **{s: (lambda pid=pid: [pid]) for s, pid in service_pids(up.pid).items()},
                "postgres": lambda: postmaster_tree(state / "pg")}, idle_seconds))
        if again is None:
            boundary = started + wall / 2
        for service in SERVICES:
            samples = sampler.samples.get(service, [])
            first = max((kb for t, kb in samples if t <= boundary), default=0) / 1024
            second = max((kb for t, kb in samples if t > boundary), default=0) / 1024
            peak = max(first, second, (hwm.get(service) or 0) / 1024)
            results.append(Result(f"year.rss_peak.{service}", peak, "MB", target=RSS_TARGET_MB, op="<",
                                  details={"vmhwm_mb": (hwm.get(service) or 0) / 1024, "first_peak_mb": first,
                                           "second_peak_mb": second, "samples": len(samples)}))
            meaning = (f"peak RSS while a second year (scale {again['scale']:g}, {again['seconds']:.0f}s) went "
                       "through the same processes / peak during the first year" if again else
                       "peak RSS of the second half of the run / of the first half (no time for a second year)")
            results.append(Result(f"year.rss_flat.{service}", second, "MB", target=FLAT_TARGET, op="<",
                                  compare="ratio", baseline=first or None,
                                  baseline_name="first-year peak" if again else "first-half peak",
                                  details={"meaning": meaning, "second_year": again}))
        return results
    except Exception as exc:  # noqa: BLE001
        log(f"  year failed: {type(exc).__name__}: {exc}")
        return [failed(name, "s", f"{type(exc).__name__}: {exc}", WALL_TARGET, "<")]
    finally:
        if sampler is not None:
            sampler.stop()
        if up is not None:
            stop_process(up, 60)
        for name, pid in pids.items():  # gone with `parcours up`; never leave one behind
            if f"services.{name}" in _cmdline(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
