"""R13: a whole simulated year survives services killed at random.

`parcours up` restarts a service that dies, like a compose restart policy. While `parcours
simulate` drives a year (scale 0.2) through the public APIs, a random service is killed with
SIGKILL two seconds or so after all three answer ready again; the simulator retries what was
refused or cut, as a centre's client would. Pass: the simulation finishes, every count of the
report equals the ground truth, each kill was followed by a restart that `parcours up` said, and
nothing was dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.e2e.helpers import PARCOURS, Up, report_counts, service_ports
from tests.reliability.ledger import Ledger
from tests.reliability.stack import soak

SERVICE_MODULES = {"intake": "services.intake", "progress": "services.progress", "outcomes": "services.outcomes"}


def children_of(pid: int) -> dict[str, int]:
    """The service processes `parcours up` (pid) started, by service name."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent != pid:
            continue
        for name, module in SERVICE_MODULES.items():
            if module.encode() in cmdline:
                found[name] = int(entry.name)
    return found


class Killer(threading.Thread):
    """Kills a random service every `every` seconds (±50 %) until stopped, once all three answer
    ready again (a service killed before it could start would only test the backoff)."""

    def __init__(self, up_pid: int, every: float, rng: random.Random, ports: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.up_pid, self.every, self.rng, self.ports = up_pid, every, rng, ports
        self.kills: list[tuple[float, str]] = []
        self.stopped = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while not self.stopped.wait(self.every * self.rng.uniform(0.5, 1.5)):
            if not _all_ready(self.ports, timeout=60, stop=self.stopped):
                continue
            running = children_of(self.up_pid)
            if not running:
                continue
            name = self.rng.choice(sorted(running))
            try:
                os.kill(running[name], signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.kills.append((round(time.monotonic() - self.started_at, 1), name))


@pytest.mark.timeout(900)
def test_r13_a_simulated_year_survives_services_killed_at_random(tmp_path):
    rng = random.Random(13)
    ledger = Ledger("R13", "a year survives services killed at random (SIGKILL, parcours up restarts them)",
                    "counts")
    ports = service_ports()
    up = Up(tmp_path / "state", ports)
    killer = None
    try:
        with ledger.phase("start"):
            up.wait_ready()
        truth_file = tmp_path / "truth.json"
        scale = "0.5" if soak() else "0.2"
        with ledger.phase("simulate while killing"):
            sim = subprocess.Popen([*PARCOURS, "simulate", "--year", "2020", "--scale", scale, "--seed", "5",
                                    "--truth", str(truth_file), "--quiet", "--timeout", "300"],
                                   env=up.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            killer = Killer(up.process.pid, 2.0, rng, ports)
            killer.start()
            out, _ = sim.communicate(timeout=800)
            killer.stopped.set()
            killer.join()
        assert sim.returncode == 0, out[-3000:]
        with ledger.phase("settle"):
            up_to_date = _all_ready(ports)
            truth = json.loads(truth_file.read_text())["counts"]
            counts = report_counts(up.env())
            dead = _dead_letters(up.state_dir)
    finally:
        if killer is not None:
            killer.stopped.set()
        code, output = up.stop()
    restarts = [line for line in output.splitlines() if " restarted (" in line]
    ledger.sent = ledger.accepted = len(truth)
    ledger.applied = sum(counts.get(k) == v for k, v in truth.items())
    ledger.lost = len(truth) - ledger.applied
    ledger.dead_lettered = dead
    ledger.note("kills (seconds into the run, service)", killer.kills)
    ledger.note("restarts said by parcours up", len(restarts))
    ledger.note("simulator", out.strip().splitlines()[-2:])
    ledger.note("counts differing from the truth", {k: (v, counts.get(k)) for k, v in truth.items()
                                                    if counts.get(k) != v} or "none")
    ledger.check()
    assert up_to_date, "a service was not ready again after the kills"
    assert len(killer.kills) >= 3, killer.kills
    assert len(restarts) >= len(killer.kills), (killer.kills, restarts)
    assert counts == truth


def _all_ready(ports: dict[str, int], timeout: float = 60.0, stop: threading.Event | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (stop and stop.is_set()):
        try:
            if all(httpx.get(f"http://127.0.0.1:{p}/health/ready", timeout=2).status_code == 200
                   for p in ports.values()):
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def _dead_letters(state_dir: Path) -> int:
    async def count() -> int:
        total = 0
        for dsn in json.loads((state_dir / "stack.json").read_text())["databases"].values():
            conn = await asyncpg.connect(dsn)
            try:
                total += await conn.fetchval("SELECT count(*) FROM dead_letters")
            finally:
                await conn.close()
        return total

    return asyncio.run(count())
