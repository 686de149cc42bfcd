"""`parcours up`: the whole system on one machine, in one state folder, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from parcours.keys import create_key
from parcours.prometheus import Prometheus
from parcours.stack import SERVICES, EmbeddedBroker, EmbeddedPostgres, free_port
from shared.plumbing.db import create_pool, dsn_for_database, ensure_database, migrate, packages_for, redact
from shared.plumbing.kafka import ensure_topics
from shared.plumbing.outbox import republish_since


def say(*parts: object) -> None:
    print(*parts, flush=True)


def write_private(path: Path, text: str) -> None:
    """Write a file only this user can read, from its first byte: created 0600 (never readable by others
    between its creation and a chmod), replaced atomically."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(partial, path)


@dataclass
class Stack:
    state_dir: Path
    ports: dict[str, int]
    kafka_port: int | None = None
    postgres: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    dsns: dict[str, str] = field(default_factory=dict)
    bootstrap: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    prometheus: Prometheus | None = None

    def start_infrastructure(self) -> None:
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        given = {s: os.environ.get(f"PARCOURS_{s.upper()}_DATABASE_URL") for s in SERVICES}
        server = os.environ.get("PARCOURS_DATABASE_URL")
        if not all(given.values()) and not server:
            self.postgres = EmbeddedPostgres(self.state_dir / "pg")
            server = self.postgres.start()
        for service in SERVICES:
            if given[service]:
                self.dsns[service] = given[service]
            else:
                name = f"parcours_{service}"
                asyncio.run(ensure_database(server, name))
                self.dsns[service] = dsn_for_database(server, name)
        self.bootstrap = os.environ.get("PARCOURS_KAFKA_BOOTSTRAP_SERVERS", "")
        if not self.bootstrap:
            self.broker = EmbeddedBroker(free_port(self.kafka_port or 9092), logs / "kafka.log")
            self.bootstrap = self.broker.start()

    def record(self) -> None:
        """Where this stack put things, for `parcours resync|dlq|migrate|keys --state-dir`, and an admin
        key for the command line (`simulate`, `report`, `import` use it), readable by this user only."""
        path = self.state_dir / "stack.json"
        key = json.loads(path.read_text()).get("admin_key") if path.exists() else None
        if key is None:
            _, key = asyncio.run(create_key(list(self.dsns.values()), "parcours up (command line)", "admin",
                                            None, 3650))
        write_private(path, json.dumps(
            {"databases": self.dsns, "kafka": self.bootstrap, "admin_key": key,
             "services": {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}}, indent=2))

    def prepare(self) -> int:
        """Topics, migrations; after a memory-only broker starts empty, re-publish from the outboxes."""
        partitions = int(os.environ.get("PARCOURS_TOPIC_PARTITIONS", "12"))
        return asyncio.run(self._prepare(partitions))

    async def _prepare(self, partitions: int) -> int:
        await ensure_topics(self.bootstrap, partitions)
        republished = 0
        for service in SERVICES:
            await migrate(self.dsns[service], packages_for(f"services.{service}"))
            if self.broker is not None:
                # The embedded broker forgets everything when it stops: whatever the services had
                # published before is gone, so the outboxes send it again and the consumers'
                # inboxes drop what they had already applied.
                pool = await create_pool(self.dsns[service], 2)
                try:
                    republished += await republish_since(pool, datetime(1970, 1, 1, tzinfo=UTC))
                finally:
                    await pool.close()
        return republished

    def start_services(self) -> None:
        for service in SERVICES:
            self.start_service(service)

    def start_service(self, service: str) -> None:
        env = dict(os.environ)
        env[f"PARCOURS_{service.upper()}_DATABASE_URL"] = self.dsns[service]
        env[f"PARCOURS_{service.upper()}_PORT"] = str(self.ports[service])
        env["PARCOURS_KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap
        env["PARCOURS_INTAKE_URL"] = f"http://127.0.0.1:{self.ports['intake']}"
        for other in SERVICES:  # where a browser finds each service's pages
            env[f"PARCOURS_{other.upper()}_PAGE_URL"] = f"http://127.0.0.1:{self.ports[other]}"
        log = open(self.state_dir / "logs" / f"{service}.log", "ab")  # noqa: SIM115 - the child keeps it
        self.processes[service] = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}"], env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(SERVICES)
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for service in sorted(pending):
                    proc = self.processes[service]
                    if proc.poll() is not None:
                        raise RuntimeError(f"{service} exited with code {proc.returncode}; "
                                           f"see {self.state_dir / 'logs' / (service + '.log')}")
                    try:
                        r = client.get(f"http://127.0.0.1:{self.ports[service]}/health/ready")
                        if r.status_code == 200:
                            pending.discard(service)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")
                time.sleep(0.25)

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for service, proc in self.processes.items():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                say(f"{service} did not stop within 30s; killing it")
                proc.kill()
                proc.wait()
        if self.prometheus is not None:
            self.prometheus.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()


class Supervisor:
    """Like Docker's restart policy: a service that dies is started again, after a delay that
    doubles while it keeps dying soon after a start (0.5 s up to 30 s) and resets once it has run
    10 s. Each restart is said and counted."""

    FIRST_DELAY, MAX_DELAY, HEALTHY_AFTER = 0.5, 30.0, 10.0

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.restarts = dict.fromkeys(SERVICES, 0)
        self._delay = dict.fromkeys(SERVICES, self.FIRST_DELAY)
        self._started = dict.fromkeys(SERVICES, time.monotonic())
        self._due: dict[str, float] = {}  # service -> when to start it again

    def watch(self) -> None:
        now = time.monotonic()
        for service, proc in self.stack.processes.items():
            if service in self._due or proc.poll() is None:
                continue
            if now - self._started[service] >= self.HEALTHY_AFTER:
                self._delay[service] = self.FIRST_DELAY
            delay = self._delay[service]
            self._due[service] = now + delay
            self._delay[service] = min(self.MAX_DELAY, delay * 2)
            say(f"{service} exited with code {proc.returncode}; restarting it in {delay:.1f}s (see its log)")
        for service, due in list(self._due.items()):
            if now >= due:
                del self._due[service]
                self.stack.start_service(service)
                self._started[service] = now
                self.restarts[service] += 1
                say(f"{service} restarted ({self.restarts[service]} restart(s) so far)")


def run_up(state_dir: Path, ports: dict[str, int], kafka_port: int | None,
           prometheus_port: int | None = None) -> int:
    """Run the stack until Ctrl-C or SIGTERM; with `prometheus_port`, a real Prometheus too."""
    stack = Stack(state_dir.resolve(), ports, kafka_port)
    stopping = False

    def on_signal(signum, frame):  # noqa: ARG001
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        say(f"parcours: state in {stack.state_dir}")
        stack.start_infrastructure()
        for service in SERVICES:
            say(f"database {service} {redact(stack.dsns[service])}")
        say(f"kafka {stack.bootstrap}")
        republished = stack.prepare()
        stack.record()
        if republished:
            say(f"re-publishing {republished} events from the outboxes (the embedded broker starts empty)")
        stack.start_services()
        for service in SERVICES:
            say(f"{service} http://127.0.0.1:{stack.ports[service]}")
        if prometheus_port is not None:
            stack.prometheus = Prometheus(stack.state_dir / "prometheus", free_port(prometheus_port),
                                          stack.state_dir / "logs" / "prometheus.log")
            say(f"prometheus {stack.prometheus.start(stack.ports)}")
        stack.wait_ready()
        say("ready")
        o, i = stack.ports["outcomes"], stack.ports["intake"]
        say(f"  API docs:      http://127.0.0.1:{i}/docs (and :{stack.ports['progress']}/docs, :{o}/docs)")
        say(f"  follow-up:     http://127.0.0.1:{o}/staff (the staff worklist page, a followup key)")
        say(f"  managers:      http://127.0.0.1:{o}/manager (the key figures' dashboard, a manager key)")
        say(f"  centres:       http://127.0.0.1:{i}/centre (a centre's space, its centre key)")
        say(f"  key figures:   http://127.0.0.1:{o}/key-figures?year=2020 (JSON)")
        say(f"  LMS (xAPI):    http://127.0.0.1:{stack.ports['progress']}/xapi/ (a centre key, HTTP Basic)")
        say(f"  metrics:       http://127.0.0.1:{i}/metrics (each service)")
        say(f"  logs:          {stack.state_dir / 'logs'}")
        say("  try:           parcours simulate --year 2020 --scale 0.05 --seed 1 --truth truth.json")
        say("                 parcours report --year 2020")
        say(f"  admin key:     in {stack.state_dir / 'stack.json'} (the command line uses it); "
            "`parcours keys create` for others")
        say("Ctrl-C stops everything.")
        supervisor = Supervisor(stack)
        while True:
            supervisor.watch()
            time.sleep(0.5)
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except Exception as exc:  # noqa: BLE001 - say it in one line, not a trace
        say(f"parcours up failed: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
        say("stopped")
