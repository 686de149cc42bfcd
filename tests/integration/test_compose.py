"""docker-compose.yml: valid for `docker-compose config`, and configured only by variables that the
settings classes of the services actually read; its cluster profile is a consistent three-broker
cluster; its images are the ones the container test stack runs."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from pydantic import AliasChoices, AliasPath

from shared.plumbing.settings import ServiceSettings
from tests.conftest import KAFKA_IMAGE, POSTGRES_IMAGE
from tests.tools import needs

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = shutil.which("docker-compose")
needs_compose = needs("docker-compose", package="docker-compose")


# The secrets compose refuses to start without (deploy/README.md puts them in .env).
SECRETS = {"POSTGRES_PASSWORD": "a-test-secret", "GRAFANA_ADMIN_PASSWORD": "another-test-secret",
           **{f"KAFKA_{user}_PASSWORD": f"kafka-{user.lower()}-secret"
              for user in ("ADMIN", "INTAKE", "PROGRESS", "OUTCOMES", "TOPICS")}}


def compose(*args: str, variables: dict[str, str] | None = None, tmp_path: Path,
            secrets: bool = True) -> subprocess.CompletedProcess:
    """`docker-compose ... config` with no compose variable but `variables` and, unless told otherwise, the
    secrets (neither the shell's nor a .env)."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(SECRETS if secrets else {}), **(variables or {})}
    return subprocess.run(
        [COMPOSE, "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"), "--env-file", str(empty),
         *args, "config"],
        capture_output=True, text=True, env=env, timeout=120)


def load_yaml(text: str) -> dict:
    return yaml.safe_load(text)


def rendered(tmp_path: Path, *args: str, variables: dict[str, str] | None = None) -> dict:
    done = compose(*args, variables=variables, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    return load_yaml(done.stdout)


def cluster_variables() -> dict[str, str]:
    """The .env block that deploy/README.md gives for the three-broker cluster."""
    text = (ROOT / "deploy" / "README.md").read_text()
    block = next(b for b in re.findall(r"```[a-z]*\n(.*?)```", text, re.S) if "KAFKA_VOTERS=" in b)
    pairs = (line.split("=", 1) for line in block.splitlines() if re.match(r"^[A-Z_]+=", line))
    return {name: value for name, value in pairs}


def variables_read(settings: type[ServiceSettings]) -> dict[str, str]:
    """Every environment variable a settings class reads, and its field: from fields, aliases and prefix."""
    config = settings.model_config
    prefix = config.get("env_prefix", "")
    names: dict[str, str] = {}
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias or field.alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        assert not any(isinstance(choice, AliasPath) for choice in choices), "nested aliases are not env names"
        found = [choice for choice in choices if isinstance(choice, str)]
        if not found or config.get("populate_by_name"):
            found.append(prefix + field_name)
        names.update({name if config.get("case_sensitive") else name.upper(): field_name for name in found})
    return names


def settings_of(service: dict) -> type[ServiceSettings]:
    """The settings class the container's command reads: `python -m services.<name>`, else the common one."""
    command = service.get("command") or []
    if "-m" in command:
        module = importlib.import_module(command[command.index("-m") + 1] + ".config")
        classes = [v for v in vars(module).values()
                   if isinstance(v, type) and issubclass(v, ServiceSettings) and v is not ServiceSettings]
        assert len(classes) == 1, f"{module.__name__} should define one settings class"
        return classes[0]
    return ServiceSettings


def mounts(service: dict) -> dict[str, tuple[str, bool]]:
    """target -> (source, is a bind mount), from either rendering (1.x short strings, 2.x mappings)."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            found[target] = (source, source.startswith(("/", ".")))
        else:
            found[volume["target"]] = (volume.get("source", ""), volume.get("type") == "bind")
    return found


def parcours_services(config: dict) -> dict[str, dict]:
    """The services built from this repository's Dockerfile."""
    return {name: s for name, s in config["services"].items() if "build" in s}


@needs_compose
def test_docker_compose_config_accepts_the_file(tmp_path):
    done = compose("--profile", "cluster", tmp_path=tmp_path, variables=cluster_variables())
    assert done.returncode == 0, done.stderr
    plain = subprocess.run([COMPOSE, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120, env={**os.environ, **SECRETS})
    assert plain.returncode == 0, plain.stderr


@needs_compose
def test_security_5_compose_refuses_to_start_without_its_secrets_and_keeps_monitoring_on_the_host(tmp_path):
    # Finding 5 of the security review: Grafana admin/admin published on every interface, Prometheus
    # without authentication, the databases' password "parcours" by default.
    refused = compose(tmp_path=tmp_path, secrets=False)
    assert refused.returncode != 0
    assert any(secret in refused.stderr for secret in SECRETS), refused.stderr
    for missing in SECRETS:
        alone = compose(tmp_path=tmp_path, secrets=False, variables={k: v for k, v in SECRETS.items() if k != missing})
        assert alone.returncode != 0 and missing in alone.stderr, alone.stderr
    config = rendered(tmp_path)
    for name in ("prometheus", "grafana"):
        ports = config["services"][name]["ports"]  # this docker-compose writes short forms for host-bound ports
        assert ports and all((p.get("host_ip") if isinstance(p, dict) else p.split(":")[0]) == "127.0.0.1"
                             for p in ports), (name, ports)
    assert config["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "another-test-secret"


def test_security_5_the_compose_file_names_no_default_secret_and_binds_monitoring_to_the_host():
    # The same finding, read from the file itself: runs where docker-compose is not installed too.
    text = (ROOT / "docker-compose.yml").read_text()
    assert ":-parcours}" not in text and ":-admin}" not in text
    for secret in SECRETS:
        assert re.search(r"\$\{" + secret + r":\?[^}]+\}", text), f"{secret} must be required (${{{secret}:?...}})"
    services = load_yaml(text)["services"]
    for name in ("prometheus", "grafana"):
        assert all(str(port).startswith("${MONITORING_BIND:-127.0.0.1}:") for port in services[name]["ports"]), name


def test_variables_read_are_the_ones_pydantic_settings_reads(monkeypatch):
    from services.intake.config import IntakeSettings

    read_by = variables_read(IntakeSettings)
    assert {"PARCOURS_INTAKE_DATABASE_URL", "PARCOURS_INTAKE_PORT", "PARCOURS_HOST",
            "PARCOURS_KAFKA_BOOTSTRAP_SERVERS"} <= set(read_by)
    assert "PARCOURS_PROGRESS_PORT" not in read_by
    monkeypatch.setenv("PARCOURS_PROGRESS_PORT", "9998")
    assert IntakeSettings().port == 8001
    monkeypatch.setenv("PARCOURS_INTAKE_PORT", "9999")
    assert IntakeSettings().port == 9999 and read_by["PARCOURS_INTAKE_PORT"] == "port"


@needs_compose
@pytest.mark.parametrize("profile", ["default", "cluster"])
def test_every_parcours_service_variable_is_read_by_its_settings_class(tmp_path, monkeypatch, profile):
    args, variables = (("--profile", "cluster"), cluster_variables()) if profile == "cluster" else ((), {})
    config = rendered(tmp_path, *args, variables=variables)
    services = parcours_services(config)
    assert {"topics", "intake", "progress", "outcomes"} <= set(services)
    for name, service in services.items():
        settings = settings_of(service)
        environment = {key: str(value) for key, value in (service.get("environment") or {}).items()}
        read_by = variables_read(settings)
        unknown = set(environment) - set(read_by)
        assert not unknown, f"{name}: {settings.__name__} reads none of {sorted(unknown)}"

        # And the service really starts with those values: read them as it would.
        for key in [k for k in os.environ if k.upper().startswith("PARCOURS_")]:
            monkeypatch.delenv(key)
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        read = settings().model_dump()
        for key, value in environment.items():
            seen = read[read_by[key]]
            seen = str(seen).lower() if isinstance(seen, bool) else str(seen)
            assert seen == value, f"{name}: {key}={value} but {settings.__name__} reads " \
                                                     f"{read_by[key]}={read[read_by[key]]!r}"
        if name != "topics":
            assert read["host"] == "0.0.0.0", f"{name} must listen on every interface in its container"
            assert read["database_url"].startswith("postgresql://") and f"@{name}-db:" in read["database_url"]


@needs_compose
def test_the_cluster_profile_is_three_brokers_replicating_three_times_with_two_in_sync(tmp_path):
    config = rendered(tmp_path, "--profile", "cluster", variables=cluster_variables())
    brokers = {name: s for name, s in config["services"].items()
               if s.get("image", "").startswith("apache/kafka") and "KAFKA_NODE_ID" in s.get("environment", {})}
    assert set(brokers) == {"kafka", "kafka-2", "kafka-3"}
    env = {name: {k: str(v) for k, v in s["environment"].items()} for name, s in brokers.items()}
    node_ids = {name: e["KAFKA_NODE_ID"] for name, e in env.items()}
    assert sorted(node_ids.values()) == ["1", "2", "3"]
    voters = {f"{node_ids[name]}@{name}:9093" for name in brokers}
    for name, e in env.items():
        assert set(e["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters, name
        assert e["KAFKA_ADVERTISED_LISTENERS"] == f"CLIENT://{name}:9092,BROKER://{name}:9094"
        assert e["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert e["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert e["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == e["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert e["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
    assert len({e["CLUSTER_ID"] for e in env.values()}) == 1
    data = [mounts(s)["/var/lib/kafka/data"][0] for s in brokers.values()]
    assert len(set(data)) == 3, "each broker needs its own volume"

    services = parcours_services(config)
    for name, service in services.items():
        bootstrap = service["environment"]["PARCOURS_KAFKA_BOOTSTRAP_SERVERS"]
        assert set(bootstrap.split(",")) == {f"{b}:9092" for b in brokers}, name
        assert str(service["environment"]["PARCOURS_TOPIC_REPLICATION_FACTOR"]) == "3", name
    min_isr = services["topics"]["command"][3]
    assert min_isr == "2"


@needs_compose
def test_the_single_broker_default(tmp_path):
    config = rendered(tmp_path)
    kafka = {k: str(v) for k, v in config["services"]["kafka"]["environment"].items()}
    assert "profiles" not in config["services"]["kafka"]
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert kafka["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert set(mounts(config["services"]["kafka"])) == {"/var/lib/kafka/data"}
    assert config["services"]["topics"]["command"][3] == "1"
    for name in ("kafka-2", "kafka-3"):
        assert config["services"][name]["profiles"] == ["cluster"]


@needs_compose
def test_replicas_share_the_gateway_and_are_scraped_one_by_one(tmp_path):
    config = rendered(tmp_path)
    services = parcours_services(config)
    partitions = int(services["topics"]["environment"]["PARCOURS_TOPIC_PARTITIONS"])
    for name in ("progress", "outcomes"):
        replicas = services[name]["deploy"]["replicas"]
        assert 2 <= replicas <= partitions, f"{name}: replicas beyond the partitions would stay idle"
    for name in ("intake", "progress", "outcomes"):
        assert "ports" not in services[name], f"{name}: a fixed host port collides between replicas"
    published = {int(p["target"] if isinstance(p, dict) else p.rsplit(":", 1)[1])
                 for p in config["services"]["gateway"]["ports"]}
    ports = {name: int(services[name]["environment"][f"PARCOURS_{name.upper()}_PORT"])
             for name in ("intake", "progress", "outcomes")}
    assert published == set(ports.values())

    scrape = load_yaml((ROOT / "deploy" / "prometheus" / "prometheus.compose.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    for name, port in ports.items():
        (sd,) = jobs[f"parcours-{name}"]["dns_sd_configs"]
        assert sd["names"] == [name] and sd["port"] == port and sd["type"] == "A"
        assert f"dynamic a {name} {port}" in config["services"]["gateway"]["command"][0]


@needs_compose
def test_mounted_files_exist_and_images_match_the_test_containers(tmp_path):
    config = rendered(tmp_path)
    for name, service in config["services"].items():
        for target, (source, bind) in mounts(service).items():
            assert not bind or Path(source).exists(), f"{name} mounts {source} on {target}, and it is missing"
    assert config["services"]["kafka"]["image"] == KAFKA_IMAGE
    assert {config["services"][f"{s}-db"]["image"] for s in ("intake", "progress", "outcomes")} == {POSTGRES_IMAGE}
    prometheus = mounts(config["services"]["prometheus"])
    scrape = str(ROOT / "deploy/prometheus/prometheus.compose.yml")
    assert prometheus["/etc/prometheus/prometheus.yml"] == (scrape, True)
    assert prometheus["/etc/prometheus/rules"] == (str(ROOT / "deploy/prometheus/rules"), True)
    grafana = mounts(config["services"]["grafana"])
    assert grafana["/etc/grafana/provisioning"] == (str(ROOT / "deploy/grafana/provisioning"), True)
    assert (Path(grafana["/var/lib/grafana/dashboards"][0]) / "parcours.json").exists()


@needs("promtool", package="prometheus")
def test_compose_scrape_config_is_valid():
    check = subprocess.run(["promtool", "check", "config", str(ROOT / "deploy/prometheus/prometheus.compose.yml")],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_dockerfile_healthcheck_is_exec_form_python_that_compiles():
    # A HEALTHCHECK whose JSON does not parse silently becomes a shell command: parse it as Docker does.
    text = re.sub(r"\\\n", "", (ROOT / "Dockerfile").read_text())
    (line,) = [line for line in text.splitlines() if line.startswith("HEALTHCHECK")]
    command = json.loads(line.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    compile(command[2], "HEALTHCHECK", "exec")
    assert re.search(r"^USER \d+", text, re.M), "the image runs as a non-root user"
