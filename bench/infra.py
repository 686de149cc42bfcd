"""The embedded stack for the benchmark: one PostgreSQL server, fresh brokers, service processes.

Everything lives under one temporary folder and every process started here is registered
so that `Infra.close()` stops it (SIGTERM, then SIGKILL of its process group).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from parcours.stack import EmbeddedBroker, EmbeddedPostgres, free_port, quiet_runtime_dir
from shared.contracts import Envelope, encode_event, topic_for
from shared.plumbing.db import create_pool, dsn_for_database, ensure_database, migrate, packages_for
from shared.plumbing.kafka import ensure_topics, make_producer

REPO = Path(__file__).resolve().parent.parent


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


class ServiceProcess:
    """`python -m services.<name>` with its database, port and broker given by environment variables."""

    def __init__(self, name: str, dsn: str, bootstrap: str, port: int, log_path: Path,
                 extra_env: dict | None = None, module: str | None = None) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        env = dict(os.environ)
        env.update({
            f"PARCOURS_{name.upper()}_DATABASE_URL": dsn,
            f"PARCOURS_{name.upper()}_PORT": str(port),
            "PARCOURS_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "PARCOURS_LOG_LEVEL": "WARNING",
        })
        env.update(extra_env or {})
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module or f"services.{name}"], env=env, stdout=out, stderr=subprocess.STDOUT,
                cwd=REPO, start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with code {self.process.returncode}: {self.tail()}")
                try:
                    r = await client.get(self.url + "/health/ready")
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s: {self.tail()}")
                await asyncio.sleep(0.2)

    def tail(self, lines: int = 8) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 25.0) -> None:
        stop_process(self.process, timeout)


def stop_process(process: subprocess.Popen, timeout: float = 25.0) -> None:
    """SIGTERM, wait, then SIGKILL the whole process group (it was started in its own session)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


class Infra:
    """One PostgreSQL server for the whole run; a fresh broker and fresh databases per measure."""

    def __init__(self, keep: bool = False, profile_dir: Path | None = None, gc_log: bool = False) -> None:
        quiet_runtime_dir()
        self.gc_log = gc_log
        self.profile_dir = profile_dir
        self.profilers: list[subprocess.Popen] = []
        self.root = Path(tempfile.mkdtemp(prefix="parcours-bench-"))
        self.keep = keep
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.postgres: EmbeddedPostgres | None = None
        self.server_dsn = ""
        self.commit_timestamps = False
        self.brokers: list[EmbeddedBroker] = []
        self.bootstrap = ""
        self.services: list[ServiceProcess] = []
        self._started = 0
        self._service_count = 0
        self.processes: list[subprocess.Popen] = []

    # --- PostgreSQL ---------------------------------------------------------------------

    def start_postgres(self) -> str:
        """Start the server with track_commit_timestamp on, so that each row's commit time is exact."""
        self.postgres = EmbeddedPostgres(self.root / "pg")
        dsn = self.postgres.start()
        try:
            asyncio.run(_execute(dsn, "ALTER SYSTEM SET track_commit_timestamp = on"))
            self.postgres.stop()
            self.postgres = EmbeddedPostgres(self.root / "pg")
            dsn = self.postgres.start()
            self.commit_timestamps = asyncio.run(_fetchval(dsn, "SHOW track_commit_timestamp")) == "on"
        except Exception as exc:  # noqa: BLE001 - fall back to processed_at (transaction start)
            log(f"bench: commit timestamps unavailable ({exc}); using transaction start times")
        self.server_dsn = dsn
        return dsn

    async def new_database(self, prefix: str, package: str | None = None) -> str:
        """A fresh database, migrated for a service package (or only the plumbing tables)."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        await ensure_database(self.server_dsn, name)
        dsn = dsn_for_database(self.server_dsn, name)
        if package is not None:
            await migrate(dsn, packages_for(package))
        return dsn

    async def settle_database(self) -> None:
        """CHECKPOINT: write out what a heavy phase left dirty before a latency measure starts."""
        await _execute(self.server_dsn, "CHECKPOINT")

    async def drop_database(self, dsn: str) -> None:
        """Drop a measure's database once it is done, so the next measures start on a quiet server."""
        name = dsn.split("?")[0].rsplit("/", 1)[-1]
        with contextlib.suppress(Exception):
            await _execute(self.server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # --- Kafka ---------------------------------------------------------------------------

    async def new_broker(self, partitions: int = 12) -> str:
        """A fresh, empty Tansu broker with every Parcours topic created."""
        self.stop_brokers()
        broker = EmbeddedBroker(free_port(), self.logs / f"kafka-{len(self.brokers)}.log")
        self.brokers.append(broker)
        bootstrap = await asyncio.to_thread(broker.start)
        await ensure_topics(bootstrap, partitions)
        return bootstrap

    def stop_brokers(self) -> None:
        for broker in self.brokers:
            broker.stop()

    # --- services ------------------------------------------------------------------------

    def start_service(self, name: str, dsn: str, bootstrap: str, extra_env: dict | None = None,
                      tag: str = "", module: str | None = None) -> ServiceProcess:
        """A service's process (or, with `module`, another program run as one: a raw ceiling)."""
        if self.gc_log:  # bench/gcprobe/sitecustomize.py logs the service's long garbage collections
            (self.root / "gc").mkdir(exist_ok=True)
            extra_env = {"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent / "gcprobe"), str(REPO)]),
                         "BENCH_GC_LOG": str(self.root / "gc"), **(extra_env or {})}
        self._service_count += 1
        log_path = self.logs / f"{self._service_count:02d}-{name}{tag}.log"
        service = ServiceProcess(name, dsn, bootstrap, free_port(), log_path, extra_env, module)
        self.services.append(service)
        return service

    @contextlib.contextmanager
    def profiling(self, label: str, harness: bool = False):
        """With --profile: sample the running services (and this process) with py-spy during a phase."""
        if self.profile_dir is None:
            yield
            return
        self._started += 1
        for service in self.services:
            self.profile(service.pid, f"{self._started:02d}-{label}-{service.name}-{service.pid}")
        if harness:
            self.profile(os.getpid(), f"{self._started:02d}-{label}-harness")
        time.sleep(0.3)  # py-spy attaches
        try:
            yield
        finally:
            self.stop_profilers()

    def profile(self, pid: int, label: str) -> subprocess.Popen | None:
        """Sample a Python process with py-spy (folded stacks, idle time included) until it exits."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            log("bench: --profile needs py-spy (pip install py-spy)")
            return None
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        out = self.profile_dir / f"{label}.txt"
        rate = os.environ.get("BENCH_SPY_RATE", "200")  # samples a second; more for short phases
        process = subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", rate, "--format", "raw",
                                    "--idle", "--nonblocking", "--output", str(out)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.profilers.append(process)
        return process

    def stop_profilers(self) -> None:
        for process in self.profilers:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGINT)
        for process in self.profilers:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.profilers.clear()

    def stop_services(self) -> None:
        for service in self.services:
            if service.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    service.process.send_signal(signal.SIGTERM)
        for service in self.services:
            service.stop()
        self.services.clear()
        self.stop_profilers()

    def popen(self, args: list[str], log_name: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
        with open(self.logs / log_name, "ab") as out:
            process = subprocess.Popen(args, env=env, stdout=kwargs.pop("stdout", out), stderr=subprocess.STDOUT,
                                       cwd=REPO, start_new_session=True, **kwargs)
        self.processes.append(process)
        return process

    def close(self) -> None:
        self.stop_services()
        for process in self.processes:
            stop_process(process, 30)
        self.stop_brokers()
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.stop()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


# --- helpers ------------------------------------------------------------------------------


async def _execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _fetchval(dsn: str, sql: str, *args):
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def fetchval(dsn: str, sql: str, *args):
    return await _fetchval(dsn, sql, *args)


def gc_pauses(infra: Infra, pid: int, since: float, until: float) -> dict:
    """Garbage collections over 5 ms of a service process between two wall-clock times (--gc-log)."""
    path = infra.root / "gc" / f"gc-{pid}.log"
    if not infra.gc_log or not path.exists():
        return {}
    pauses = []
    for line in path.read_text().splitlines():
        at, generation, ms = line.split()
        if since <= float(at) <= until:
            pauses.append((int(generation), float(ms)))
    return {"gc_pauses_over_5ms": len(pauses), "gc_pause_max_ms": max((ms for _, ms in pauses), default=0.0),
            "gc_pause_total_ms": sum(ms for _, ms in pauses),
            "gc_full_collections": sum(1 for g, _ in pauses if g == 2)}


async def api_key_headers(dsns: list[str]) -> dict[str, str]:
    """An admin API key stored in each service database (where the services require keys),
    as the header to send; nothing when this version of the services has no keys."""
    try:
        from shared.plumbing import auth
    except ImportError:
        return {}
    from datetime import UTC, datetime, timedelta

    token, key_id = auth.new_token(), uuid.uuid4()
    expires = datetime.now(UTC) + timedelta(days=1)
    for dsn in dsns:
        conn = await asyncpg.connect(dsn)
        try:
            exists = await conn.fetchval("SELECT to_regclass('api_keys') IS NOT NULL")
        finally:
            await conn.close()
        if not exists:
            return {}
        pool = await create_pool(dsn, 1)
        try:
            await auth.store_key(pool, key_id, "bench", "admin", None, auth.hash_token(token), expires)
        finally:
            await pool.close()
    return {"Authorization": f"Bearer {token}"}


async def wait_until(check: Callable[[], Awaitable], timeout: float, interval: float = 0.2, what: str = ""):
    """Poll `check()` until it returns something truthy; TimeoutError with the last value otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what or 'condition'} not met within {timeout:.0f}s (last: {last!r})")
        await asyncio.sleep(interval)


async def wait_for_count(dsn: str, sql: str, expected: int, timeout: float, interval: float = 0.25) -> int:
    """Wait until a count query reaches `expected`; return the last count (which may be short on timeout)."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while True:
            n = await conn.fetchval(sql)
            if n >= expected or time.monotonic() > deadline:
                return n
            await asyncio.sleep(interval)
    finally:
        await conn.close()


async def wait_for_zero(dsn: str, sql: str, timeout: float, interval: float = 0.2) -> int:
    """Wait until a count query answers 0; return the last count."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while True:
            n = await conn.fetchval(sql)
            if n == 0 or time.monotonic() > deadline:
                return n
            await asyncio.sleep(interval)
    finally:
        await conn.close()


def encode_all(events: Iterable[Envelope]) -> list[tuple[str, bytes, bytes, list]]:
    """(topic, key, value, headers) of each event, encoded as the services encode them."""
    out = []
    for event in events:
        key, value, headers = encode_event(event)
        out.append((topic_for(event.event_type), key, value, headers))
    return out


async def preload(bootstrap: str, records: list[tuple[str, bytes, bytes, list]],
                  producer: AIOKafkaProducer | None = None) -> float:
    """Send every record (keyed, so one learner's events stay in order); return the seconds it took."""
    own = producer is None
    producer = producer or make_producer(bootstrap)
    if own:
        await producer.start()
    started = time.perf_counter()
    try:
        for start in range(0, len(records), 5000):
            futures = [await producer.send(topic, value, key=key, headers=headers)
                       for topic, key, value, headers in records[start:start + 5000]]
            await asyncio.gather(*futures)
    finally:
        if own:
            await producer.stop()
    return time.perf_counter() - started


COMMIT_GROUPS = """
SELECT extract(epoch FROM {stamp}) AS t, count(*) AS n FROM {table} {where} GROUP BY 1 ORDER BY 1
"""


async def commit_groups(dsn: str, table: str, exact: bool, where: str = "",
                        fallback: str = "processed_at") -> list[tuple[float, int]]:
    """(commit time, rows) per transaction that wrote `table`: exact with track_commit_timestamp."""
    stamp = "pg_xact_commit_timestamp(xmin)" if exact else fallback
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(COMMIT_GROUPS.format(stamp=stamp, table=table, where=where))
    finally:
        await conn.close()
    return [(float(r["t"]), int(r["n"])) for r in rows if r["t"] is not None]


def steady_rate(groups: list[tuple[float, int]]) -> tuple[float, float, int]:
    """Rows per second between the first and the last commit: (rate, seconds, rows counted).

    The rows of the first commit are not counted (their work began before the first
    timestamp), so start-up and consumer-group joining are left out of the rate.
    """
    if len(groups) < 2:
        return float("nan"), 0.0, sum(n for _, n in groups)
    first, last = groups[0][0], groups[-1][0]
    counted = sum(n for _, n in groups[1:])
    seconds = last - first
    return (counted / seconds if seconds > 0 else float("nan")), seconds, counted


def rss_kb(pid: int, field: str = "VmRSS") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))  # nearest rank
    return ordered[min(len(ordered), max(1, rank)) - 1]


# --- CPU accounting -----------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _process_cpu(pid: int, with_children: bool = True) -> float:
    """CPU seconds of a process, plus those of its children already reaped (cutime, cstime)."""
    f = _stat_fields(pid)
    if f is None:
        return 0.0
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if with_children else 0)
    return ticks / TICK


def children_of(ppid: int) -> list[int]:
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            f = _stat_fields(int(entry.name))
            if f is not None and int(f[1]) == ppid:
                out.append(int(entry.name))
    return out


def system_busy_seconds() -> float:
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in parts]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / TICK


class CpuMeter:
    """CPU seconds spent by each part of the stack during a measure, and by everything else.

    `groups` maps a label to a function returning pids; PostgreSQL is the postmaster and its
    backends (those that exited are counted through the postmaster's cutime).
    """

    def __init__(self, infra: Infra, extra: dict[str, Callable[[], list[int]]] | None = None) -> None:
        self.infra = infra
        self.extra = extra or {}
        self._start: dict[str, float] = {}
        self.started_at = 0.0

    def _postgres_pids(self) -> list[int]:
        server = getattr(self.infra.postgres, "_server", None) if self.infra.postgres else None
        if server is None:
            return []
        try:
            pid = server.get_pid()
        except Exception:  # noqa: BLE001
            return []
        return [pid, *children_of(pid)]

    def snapshot(self) -> dict[str, float]:
        postgres = self._postgres_pids()
        snap = {
            "postgres": sum(_process_cpu(p, with_children=(i == 0)) for i, p in enumerate(postgres)),
            "broker": sum(_process_cpu(b.process.pid) for b in self.infra.brokers
                          if b.process is not None and b.process.poll() is None),
            # with the children it has reaped (e.g. `parcours simulate` once it has finished)
            "harness": _process_cpu(os.getpid(), with_children=True),
            "services": sum(_process_cpu(s.pid) for s in self.infra.services if s.process.poll() is None),
            "system": system_busy_seconds(),
        }
        for label, pids in self.extra.items():
            snap[label] = sum(_process_cpu(p) for p in pids())
        return snap

    def start(self) -> None:
        self._start = self.snapshot()
        self.started_at = time.monotonic()

    def stop(self) -> dict:
        """Cores used on average by each part over the interval (2.0 = both cores of this machine)."""
        end = self.snapshot()
        seconds = max(1e-6, time.monotonic() - self.started_at)
        used = {k: max(0.0, end[k] - self._start.get(k, 0.0)) for k in end}
        ours = sum(v for k, v in used.items() if k != "system")
        out = {f"{k}_cores": round(v / seconds, 2) for k, v in used.items() if k != "system"}
        out["all_processes_cores"] = round(used["system"] / seconds, 2)
        out["outside_bench_cores"] = round(max(0.0, used["system"] - ours) / seconds, 2)
        out["interval_seconds"] = round(seconds, 1)
        return out


def outside_load(infra: Infra, seconds: float = 1.0) -> float:
    """Cores used by processes that are not part of this benchmark, over `seconds`."""
    meter = CpuMeter(infra)
    meter.start()
    time.sleep(seconds)
    return meter.stop()["outside_bench_cores"]


def wait_quiet(infra: Infra, limit: float, threshold: float = 0.3) -> float:
    """Wait up to `limit` seconds for the rest of the machine to go quiet; return its last load."""
    deadline = time.monotonic() + limit
    load = outside_load(infra)
    while load > threshold and time.monotonic() < deadline:
        load = outside_load(infra, 2.0)
    return load


def descendants(pid: int) -> list[int]:
    """A process and all its descendants."""
    parent_of = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            f = _stat_fields(int(entry.name))
            if f is not None:
                parent_of[int(entry.name)] = int(f[1])
    found, frontier = [pid], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, pp in parent_of.items() if pp == current]
        found.extend(kids)
        frontier.extend(kids)
    return found


def postmaster_tree(pgdata: Path) -> list[int]:
    """The postmaster of a data folder (it is daemonised by pg_ctl) and its backends."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    return [pid, *children_of(pid)]
