"""GDPR erasure: `DELETE /learners/{id}` removes the personal data in every service, tells them
with `learner.erased`, and leaves every count of the key figures the same."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import httpx
import pytest

from parcours.simulation.world import FIRST_NAMES, LAST_NAMES
from shared.contracts.topics import all_topic_names
from tests.e2e.helpers import Up, run, service_ports
from tests.integration.helpers import read_topic

pytestmark = pytest.mark.e2e


async def erased_events(bootstrap: str) -> list[str]:
    records = await read_topic(bootstrap, "parcours.applications")
    return [r.key.decode() for r in records if dict(r.headers)["event_type"] == b"learner.erased"]


async def all_payloads(bootstrap: str) -> list[bytes]:
    payloads = []
    for topic in all_topic_names():
        payloads += [r.value + repr(r.headers).encode() for r in await read_topic(bootstrap, topic)]
    return payloads


async def personal_text(dsn: str, learner: str) -> list:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["job_title"] for r in await conn.fetch(
            "SELECT job_title FROM outcomes WHERE learner_id = $1", learner)]
    finally:
        await conn.close()


def test_no_personal_data_leaves_intake_and_erasure_removes_it_while_counts_stay(tmp_path):
    ports = service_ports()
    state = tmp_path / "state"
    up = Up(state, ports)
    try:
        lines = up.wait_ready()
        bootstrap = next(line.split()[1] for line in lines if line.startswith("kafka "))
        sim = run(["simulate", "--year", "2020", "--scale", "0.01", "--seed", "3", "--quiet", "--timeout", "120"],
                  up.env())
        assert sim.returncode == 0, sim.stdout + sim.stderr
        intake, outcomes = (f"http://127.0.0.1:{ports[s]}" for s in ("intake", "outcomes"))
        http = httpx.Client(headers=up.headers, timeout=30)
        recorded = http.get(f"{outcomes}/followups", params={"status": "recorded", "limit": 1}).json()["items"][0]
        learner, followup = recorded["learner_id"], recorded["followup_id"]
        fix = http.put(f"{outcomes}/followups/{followup}/outcome", json={
            "situation": "permanent_contract", "digital_job": True, "job_title": "Analyste chez Dupont SARL",
            "observed_on": recorded["observation_date"]})
        assert fix.status_code == 200, fix.text
        before = {y: http.get(f"{outcomes}/key-figures", params={"year": y}).json()["counts"] for y in (2020, 2021)}
        assert http.get(f"{intake}/learners/{learner}/contact").status_code == 200

        # No personal data in any event or metric: names, e-mails and phones stay in intake.
        payloads = asyncio.run(all_payloads(bootstrap))
        assert len(payloads) > 1000
        personal = [b"@example.org", b"+336", *(n.encode() for n in LAST_NAMES + FIRST_NAMES)]
        leaks = [p[:120] for p in payloads if any(word in p for word in personal)]
        assert not leaks, leaks[:3]
        for port in ports.values():
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").content
            assert not [w for w in personal if w in metrics]

        erased = http.delete(f"{intake}/learners/{learner}")
        assert erased.status_code == 200 and erased.json()["result"] == "erased"
        assert http.delete(f"{intake}/learners/{learner}").json()["result"] == "already_erased"
        assert http.delete(f"{intake}/learners/00000000-0000-4000-8000-000000000000").status_code == 404
        assert http.get(f"{intake}/learners/{learner}/contact").status_code == 404

        dsn = json.loads((state / "stack.json").read_text())["databases"]["outcomes"]
        for _ in range(60):
            if set(asyncio.run(personal_text(dsn, learner))) == {None}:
                break
            asyncio.run(asyncio.sleep(0.5))
        job_titles = asyncio.run(personal_text(dsn, learner))
        assert len(job_titles) >= 2 and set(job_titles) == {None}  # every version of every outcome of hers
        assert asyncio.run(erased_events(bootstrap)) == [learner]
        after = {y: http.get(f"{outcomes}/key-figures", params={"year": y}).json()["counts"] for y in (2020, 2021)}
        assert after == before
        page = http.get(f"{outcomes}/staff/followups/{followup}").text
        assert "No contact details are held" in page
    finally:
        up.stop()
