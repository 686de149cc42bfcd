"""A real Prometheus beside the embedded stack (`parcours up --with-prometheus`)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx

RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "rules"


def write_config(folder: Path, ports: dict[str, int], scrape_seconds: int = 2) -> Path:
    """Scrape the services on the ports this stack uses, with the project's alert rules."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs = "\n".join(
        f"  - job_name: parcours-{name}\n"
        f"    static_configs: [{{ targets: [\"127.0.0.1:{port}\"], labels: {{ service: {name} }} }}]"
        for name, port in ports.items()
    )
    rules = f"rule_files:\n  - {RULES}/*.yml\n" if RULES.is_dir() else ""
    config = folder / "prometheus.yml"
    config.write_text(
        f"global:\n  scrape_interval: {scrape_seconds}s\n  evaluation_interval: {scrape_seconds}s\n"
        f"{rules}scrape_configs:\n{jobs}\n"
    )
    return config


class Prometheus:
    def __init__(self, folder: Path, port: int, log_path: Path) -> None:
        self.folder = folder
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @staticmethod
    def binary() -> str | None:
        return shutil.which("prometheus")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ports: dict[str, int], timeout: float = 60) -> str:
        binary = self.binary()
        if binary is None:
            raise FileNotFoundError("prometheus is not installed (Debian package `prometheus`; `make system-deps`)")
        config = write_config(self.folder, ports)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={self.folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=7d"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with code {self.process.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"prometheus not ready after {timeout:.0f}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
