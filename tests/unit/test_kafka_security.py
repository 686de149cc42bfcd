"""Security finding 5 (Kafka in plain text, anyone on the network could forge `learner.erased` or
`followup.closed`): the brokers of docker-compose.yml ask every client for a password, each service
is its own Kafka user, the ACLs of deploy/kafka/acls.txt are those shared/contracts/topics.py
implies, and every client the project builds logs in with the settings it is given."""

from __future__ import annotations

import ast
import os
import re
import ssl
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

import shared.plumbing.kafka as kafka
from shared.contracts.topics import TOPICS, all_topic_names, consumed_by, dlq_topic
from shared.plumbing.kafka import client_options, kafka_security, make_producer
from shared.plumbing.metrics import PlumbingMetrics
from shared.plumbing.runtime import Runtime
from shared.plumbing.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
KAFKA_DIR = ROOT / "deploy" / "kafka"
SERVICES = sorted({t.producer for t in TOPICS} | {c for t in TOPICS for c in t.consumers})
TOPICS_JOB = "parcours-topics"
SASL = {"PARCOURS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "PARCOURS_KAFKA_SASL_USERNAME": "parcours-progress",
        "PARCOURS_KAFKA_SASL_PASSWORD": "a-test-secret"}


def user(service: str) -> str:
    return f"parcours-{service}"


def expected_acls() -> set[tuple[str, str, str, str, str]]:
    """(principal, operation, resource type, pattern type, name), from the contracts alone."""
    acls = set()
    for service in SERVICES:
        principal = f"User:{user(service)}"
        # Dead letters of a consumed topic leave through the consumer's outbox, to that topic's twin.
        writes = [t.name for t in TOPICS if t.producer == service] + [dlq_topic(n) for n in consumed_by(service)]
        acls |= {(principal, "Write", "topic", "literal", name) for name in writes}
        acls |= {(principal, "Read", "topic", "literal", name) for name in consumed_by(service)}
        acls |= {(principal, "Describe", "topic", "literal", name) for name in all_topic_names()}
        if consumed_by(service):
            acls.add((principal, "Read", "group", "prefixed", f"parcours-{service}"))
    for operation in ("Create", "Describe"):
        acls |= {(f"User:{TOPICS_JOB}", operation, "topic", "literal", name) for name in all_topic_names()}
    return acls


def acl_file() -> set[tuple[str, str, str, str, str]]:
    acls = set()
    for line in (KAFKA_DIR / "acls.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            principal, operation, resource, pattern, *names = line.split()
            assert names, line
            acls |= {(principal, operation, resource, pattern, name) for name in names}
    return acls


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def server_properties(environment: dict) -> dict[str, str]:
    """What the apache/kafka image writes into server.properties from KAFKA_* variables (its
    KafkaDockerWrapper: prefix dropped, lower case, `_` -> `.`, `___` -> `-`, `__` -> `_`)."""
    skipped = {"KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS", "KAFKA_LOG4J_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS"}
    return {key.removeprefix("KAFKA_").lower().replace("_", ".").replace("...", "-").replace("..", "_"): str(value)
            for key, value in environment.items() if key.startswith("KAFKA_") and key not in skipped}


def required_variable(value: str) -> str:
    """The compose variable a value is, when it must be set (${NAME:?message})."""
    found = re.fullmatch(r"\$\{([A-Z0-9_]+):\?[^}]+\}", str(value))
    assert found, f"{value!r} should be a required compose variable, ${{NAME:?message}}"
    return found.group(1)


def test_security_5_the_acl_file_grants_exactly_what_the_contracts_say():
    expected, found = expected_acls(), acl_file()
    lines = "\n".join(" ".join(acl) for acl in sorted(expected))
    assert found == expected, (f"deploy/kafka/acls.txt differs from shared/contracts/topics.py: missing "
                               f"{sorted(expected - found)}, extra {sorted(found - expected)}; expected, one "
                               f"name per line:\n{lines}")


def test_security_5_only_a_topics_producer_may_write_it():
    writers: dict[str, set[str]] = {}
    for principal, operation, resource, _, name in acl_file():
        if operation == "Write" and resource == "topic":
            writers.setdefault(name, set()).add(principal)
    for topic in TOPICS:
        assert writers[topic.name] == {f"User:{user(topic.producer)}"}, topic.name
        assert writers[dlq_topic(topic.name)] == {f"User:{user(c)}" for c in topic.consumers}, topic.name
    # The two events of the finding, by name.
    assert writers["parcours.applications"] == {"User:parcours-intake"}  # learner.erased
    assert writers["parcours.outcomes"] == {"User:parcours-outcomes"}  # followup.closed
    assert not {op for _, op, *_ in acl_file()} & {"All", "Alter", "AlterConfigs", "ClusterAction", "Delete"}


def test_security_5_the_brokers_ask_every_client_for_a_password_and_allow_only_what_an_acl_grants():
    services = compose()["services"]
    brokers = {name: s for name, s in services.items() if str(s.get("image", "")).startswith("apache/kafka")
               and "KAFKA_PROCESS_ROLES" in (s.get("environment") or {})}
    assert set(brokers) == {"kafka", "kafka-2", "kafka-3"}
    for name, broker in brokers.items():
        props = server_properties(broker["environment"])
        listeners = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
        assert set(listeners.values()) == {"SASL_PLAINTEXT"}, (name, listeners)
        assert {re.match(r"(\w+)://", item).group(1) for item in props["listeners"].split(",")} == set(listeners)
        assert {re.match(r"(\w+)://", item).group(1) for item in props["advertised.listeners"].split(",")} \
            == set(listeners) - {props["controller.listener.names"]}
        assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        assert props["allow.everyone.if.no.acl.found"] == "false"
        assert props["super.users"] == "User:admin"
        # The services' listener: SCRAM only, so the admin's PLAIN password is no use there.
        assert props["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
        assert props["listener.name.client.scram-sha-512.sasl.jaas.config"].startswith(
            "org.apache.kafka.common.security.scram.ScramLoginModule required")
        for listener in ("broker", props["controller.listener.names"].lower()):
            assert props[f"listener.name.{listener}.sasl.enabled.mechanisms"] == "PLAIN"
            jaas = props[f"listener.name.{listener}.plain.sasl.jaas.config"]
            assert 'username="admin"' in jaas
            assert re.search(r'password="\$\{KAFKA_ADMIN_PASSWORD:\?[^}]+\}"', jaas), jaas
            assert re.search(r'user_admin="\$\{KAFKA_ADMIN_PASSWORD:\?[^}]+\}"', jaas), jaas
        assert props["inter.broker.listener.name"] == "BROKER"
        assert props["sasl.mechanism.inter.broker.protocol"] == "PLAIN"
        assert props["sasl.mechanism.controller.protocol"] == "PLAIN"
        assert "9094" in broker["healthcheck"]["test"][1] and "--command-config" in broker["healthcheck"]["test"][1]


def test_security_5_each_service_logs_in_as_the_user_its_acls_name_with_the_password_kafka_access_gives_it():
    services = compose()["services"]
    access = services["kafka-access"]["environment"]
    principals = {principal.removeprefix("User:") for principal, *_ in acl_file()}
    users = {}
    for name, service in services.items():
        environment = service.get("environment") or {}
        if "build" not in service or "PARCOURS_KAFKA_BOOTSTRAP_SERVERS" not in environment:
            continue
        assert environment["PARCOURS_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name
        assert environment["PARCOURS_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", name
        username = environment["PARCOURS_KAFKA_SASL_USERNAME"]
        assert username == (TOPICS_JOB if name == "topics" else user(name)), name
        # kafka-access sets parcours-<name>'s password from <NAME>_PASSWORD: the same secret.
        given = access[username.removeprefix("parcours-").upper().replace("-", "_") + "_PASSWORD"]
        assert required_variable(environment["PARCOURS_KAFKA_SASL_PASSWORD"]) == required_variable(given), name
        users[name] = username
    assert set(users) == {*SERVICES, "topics"}
    assert set(users.values()) == principals, "every user with ACLs has a service, and every service ACLs"
    assert required_variable(access["ADMIN_PASSWORD"]) == "KAFKA_ADMIN_PASSWORD"
    assert services["topics"]["depends_on"] == {"kafka-access": {"condition": "service_completed_successfully"}}
    assert services["kafka-access"]["volumes"] == ["./deploy/kafka:/opt/parcours/kafka:ro"]


def test_security_5_the_access_job_turns_each_line_into_one_kafka_acls_command(tmp_path):
    calls = tmp_path / "calls"
    for tool in ("kafka-configs.sh", "kafka-acls.sh"):
        stand_in = tmp_path / tool
        # Records its arguments, and the SCRAM file it is given, as the real tool would read them.
        stand_in.write_text(f'#!/bin/sh\necho "{tool} $*" >> {calls}\n'
                            f'for a in "$@"; do case "$a" in *scram.properties) cat "$a" >> {calls};; esac; done\n')
        stand_in.chmod(0o755)
    passwords = {f"{name.upper()}_PASSWORD": f"secret-{name}" for name in [*SERVICES, "topics", "admin"]}
    done = subprocess.run(["bash", str(KAFKA_DIR / "access.sh")], capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], "KAFKA_BIN": str(tmp_path), **passwords})
    assert done.returncode == 0, done.stdout + done.stderr
    lines = calls.read_text().splitlines()
    scram = [line for line in lines if line.startswith("SCRAM-SHA-512=")]
    assert sorted(scram) == sorted(f"SCRAM-SHA-512=password=secret-{n}" for n in [*SERVICES, "topics"])
    assert all("secret-" not in line for line in lines if line.startswith("kafka-"))
    granted = set()
    for line in lines:
        if line.startswith("kafka-acls.sh"):
            args = line.split()
            assert args[1:5] == ["--bootstrap-server", "kafka:9094", "--command-config", args[4]]
            principal, operation, pattern = (args[args.index(flag) + 1] for flag in
                                             ("--allow-principal", "--operation", "--resource-pattern-type"))
            granted |= {(principal, operation, flag[2:], pattern, name)
                        for flag, name in zip(args, args[1:], strict=False) if flag in ("--topic", "--group")}
    assert granted == expected_acls()

    missing = subprocess.run(["bash", str(KAFKA_DIR / "access.sh")], capture_output=True, text=True, timeout=60,
                             env={"PATH": os.environ["PATH"], "KAFKA_BIN": str(tmp_path),
                                  **{k: v for k, v in passwords.items() if k != "OUTCOMES_PASSWORD"}})
    assert missing.returncode != 0 and "OUTCOMES_PASSWORD" in missing.stderr


def test_the_kafka_client_options_are_unchanged_by_default(monkeypatch):
    for key in [k for k in os.environ if k.startswith("PARCOURS_KAFKA_")]:
        monkeypatch.delenv(key)
    settings = ServiceSettings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert kafka_security(settings) is None
    assert client_options("127.0.0.1:9092", kafka_security(settings)) == {"bootstrap_servers": "127.0.0.1:9092"}


def test_the_kafka_client_options_carry_the_sasl_settings_when_set(monkeypatch):
    for key, value in SASL.items():
        monkeypatch.setenv(key, value)
    settings = ServiceSettings()
    options = client_options("kafka:9092", kafka_security(settings))
    assert options == {"bootstrap_servers": "kafka:9092", "security_protocol": "SASL_PLAINTEXT",
                       "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "parcours-progress",
                       "sasl_plain_password": "a-test-secret", "ssl_context": None}
    assert "a-test-secret" not in repr(settings)

    monkeypatch.setenv("PARCOURS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PARCOURS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    options = client_options("kafka:9093", kafka_security(ServiceSettings()))
    assert options["security_protocol"] == "SASL_SSL" and options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_sasl_without_a_user_and_password_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("PARCOURS_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.delenv("PARCOURS_KAFKA_SASL_PASSWORD", raising=False)
    monkeypatch.setenv("PARCOURS_KAFKA_SASL_USERNAME", "parcours-intake")
    with pytest.raises(ValidationError, match="PARCOURS_KAFKA_SASL_PASSWORD"):
        ServiceSettings()


async def test_the_services_producer_admin_client_and_consumers_log_in_with_the_settings(monkeypatch):
    settings = ServiceSettings(**{k.removeprefix("PARCOURS_").lower(): v for k, v in SASL.items()},
                               service_name="progress")
    runtime = Runtime(settings, "services.progress", PlumbingMetrics(CollectorRegistry()),
                      consumes=consumed_by("progress"), apply=lambda *args: None)

    producer = make_producer(settings.kafka_bootstrap_servers, runtime._security)
    assert (producer.client._security_protocol, producer.client._sasl_mechanism,
            producer.client._sasl_plain_username, producer.client._sasl_plain_password) \
        == ("SASL_PLAINTEXT", "SCRAM-SHA-512", "parcours-progress", "a-test-secret")

    # The consumers are FastStream's, built from the broker's connection keywords.
    connection = runtime._build_broker()._connection_kwargs
    assert {k: connection[k] for k in ("security_protocol", "sasl_mechanism", "sasl_plain_username")} \
        == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": "parcours-progress"}

    built = {}

    class Admin:
        def __init__(self, **options):
            built.update(options)
            raise ConnectionRefusedError("stop here")

    monkeypatch.setattr(kafka, "AIOKafkaAdminClient", Admin)
    with pytest.raises(ConnectionRefusedError):
        await runtime.ensure_topics()
    assert built["security_protocol"] == "SASL_PLAINTEXT" and built["sasl_plain_username"] == "parcours-progress"


def test_every_kafka_client_is_built_with_the_one_set_of_connection_options():
    # A client built without them would connect anonymously and be refused by the brokers of
    # docker-compose.yml, or, on a broker without authentication, pass unnoticed until then.
    aiokafka_clients = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}
    found, wrong = [], []
    for folder in ("shared", "services", "parcours", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if name in aiokafka_clients:
                    found.append(where)
                    spread = [k.value for k in node.keywords if k.arg is None]
                    if not any(getattr(v.func, "id", None) == "client_options" for v in spread
                               if isinstance(v, ast.Call)):
                        wrong.append(f"{where}: {name}(...) without **client_options(...)")
                elif name == "KafkaBroker":
                    found.append(where)
                    if "security" not in {k.arg for k in node.keywords}:
                        wrong.append(f"{where}: KafkaBroker(...) without security=")
    assert len(found) >= 5, found
    assert not wrong, wrong
