"""Run `parcours` commands as processes for the end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from parcours.stack import free_port

PARCOURS = [sys.executable, "-m", "parcours.cli"]


class Up:
    """`parcours up` in the background, with its output kept for the assertions."""

    def __init__(self, state_dir: Path, ports: dict[str, int], *extra: str) -> None:
        self.ports = ports
        self.state_dir = state_dir
        self.lines: list[str] = []
        args = [*PARCOURS, "up", "--state-dir", str(state_dir), "--kafka-port", str(free_port()),
                *[f"--{name}-port={port}" for name, port in ports.items()], *extra]
        env = dict(os.environ, PARCOURS_TOPIC_PARTITIONS="4")
        env.pop("PARCOURS_AUTH_REQUIRED", None)  # end to end, keys are required as in production
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)

    def wait_ready(self, timeout: float = 120) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if line.strip() == "ready":
                return self.lines
        raise AssertionError("parcours up did not print ready:\n" + "\n".join(self.lines))

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        return self.process.returncode, out

    @property
    def admin_key(self) -> str:
        return json.loads((self.state_dir / "stack.json").read_text())["admin_key"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def env(self) -> dict:
        return dict(os.environ, PARCOURS_API_KEY=self.admin_key,
                    **{f"PARCOURS_{n.upper()}_URL": f"http://127.0.0.1:{p}" for n, p in self.ports.items()})


def run(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*PARCOURS, *args], env=env, capture_output=True, text=True, timeout=timeout)


def report_counts(env: dict, year: int = 2020, *extra: str) -> dict:
    done = run(["report", "--year", str(year), "--format", "json", "--no-suppress", *extra], env)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)["counts"]


def service_ports() -> dict[str, int]:
    return {"intake": free_port(), "progress": free_port(), "outcomes": free_port()}


def service_pid(up_pid: int, name: str) -> int:
    """The process of service `name` started by the `parcours up` of pid `up_pid`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == up_pid and f"services.{name}".encode() in args:
            return int(entry.name)
    raise LookupError(f"no {name} process under parcours up {up_pid}")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no VmHWM for process {pid}")
