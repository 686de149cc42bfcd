"""Ops' view: a real Prometheus scraping the stack sees exactly what the simulation produced,
and the dead-letter alert's expression becomes true when a poison message arrives."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from parcours.stack import free_port
from tests.e2e.helpers import Up, run, service_ports
from tests.tools import needs

pytestmark = [
    pytest.mark.e2e,
    needs("prometheus", "promtool", package="prometheus"),
]
DLQ_ALERT = (
    'sum by (job, topic, reason) (increase(parcours_dead_lettered_total[10m])) > 0 or '
    'sum by (job, topic, reason) (parcours_dead_lettered_total > 0 unless parcours_dead_lettered_total offset 10m)'
)


def query(prometheus: str, expr: str) -> list:
    r = httpx.get(prometheus + "/api/v1/query", params={"query": expr}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


def value_of(prometheus: str, expr: str) -> float | None:
    result = query(prometheus, expr)
    return float(result[0]["value"][1]) if result else None


def wait_for(prometheus: str, expr: str, expected: float, timeout: float = 60) -> float | None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = value_of(prometheus, expr)
        if seen == expected:
            return seen
        time.sleep(1)
    return seen


async def inject_poison(bootstrap: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("parcours.training", b"\x00\xffnot an event", key=b"poison",
                                     headers=[("event_type", b"training.exited"), ("schema_version", b"1")])
    finally:
        await producer.stop()


def test_prometheus_counts_what_the_simulation_produced_and_sees_the_dlq(tmp_path):
    ports = service_ports()
    up = Up(tmp_path / "state", ports, "--with-prometheus", f"--prometheus-port={free_port()}")
    try:
        lines = up.wait_ready()
        prometheus = next(line.split()[1] for line in lines if line.startswith("prometheus "))
        bootstrap = next(line.split()[1] for line in lines if line.startswith("kafka "))
        sim = run(["simulate", "--year", "2020", "--scale", "0.01", "--seed", "2", "--quiet", "--timeout", "120"],
                  up.env())
        assert sim.returncode == 0, sim.stdout + sim.stderr
        found = re.search(r"(\d+) programmes with (\d+) sessions and (\d+) mode changes, (\d+) applications by \d+ "
                          r"people, (\d+) decisions, (\d+) training facts \((\d+) corrected afterwards, "
                          r"(\d+) transfers continued\), (\d+) events", sim.stdout)
        programmes, sessions, modes, applications, decisions, facts, corrections, transfers, events = \
            map(int, found.groups())
        print(f"simulation produced {events} events: {programmes} programmes, {sessions} sessions, {applications} "
              f"applications, {decisions} decisions, {facts} training facts, {transfers} transfers")

        targets = httpx.get(prometheus + "/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        assert sorted(t["labels"]["job"] for t in targets) == ["parcours-intake", "parcours-outcomes",
                                                              "parcours-progress"]
        assert wait_for(prometheus, 'count(up{job=~"parcours-.*"} == 1)', 3) == 3
        applied = 'sum(parcours_events_consumed_total{job="%s", result="applied"})'
        assert wait_for(prometheus, applied % "parcours-outcomes", events) == events
        intake_events = programmes + sessions + modes + applications + decisions
        assert wait_for(prometheus, applied % "parcours-progress", intake_events) == intake_events
        # each correction publishes training.corrected; a transfer opens an enrolment with its start
        published = facts + corrections + transfers
        assert wait_for(prometheus, 'sum(parcours_outbox_published_total{job="parcours-progress"})', published) == \
            published

        for service, port in ports.items():
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            assert check.returncode == 0, f"{service}: {check.stdout}{check.stderr}"
            assert "@example.org" not in text  # no personal data in any label

        assert query(prometheus, DLQ_ALERT) == []
        asyncio.run(inject_poison(bootstrap))
        deadline = time.monotonic() + 60
        fired = []
        # Both consumers of the training topic set it aside, each in its own dead letters.
        while len(fired) < 2 and time.monotonic() < deadline:
            fired = query(prometheus, DLQ_ALERT)
            time.sleep(1)
        assert [r["metric"]["reason"] for r in fired] == ["undecodable", "undecodable"]
        assert sorted(r["metric"]["job"] for r in fired) == ["parcours-intake", "parcours-outcomes"]
        # The poison blocked nothing: the services are still ready and their figures unchanged.
        for service in ("intake", "outcomes"):
            assert httpx.get(f"http://127.0.0.1:{ports[service]}/health/ready", timeout=5).status_code == 200
    finally:
        up.stop()
