"""Poison set aside and re-driven with `parcours dlq list|replay`, on a real broker and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import asyncpg
import pytest

from services.outcomes.app import create_app
from services.outcomes.config import OutcomesSettings
from tests.integration import factories as f
from tests.integration.helpers import eventually, publish, read_topic, running

pytestmark = pytest.mark.integration


@pytest.fixture
def dsn(new_database):
    return new_database("services.outcomes")


def cli(dsn: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PARCOURS_OUTCOMES_DATABASE_URL=dsn)
    return subprocess.run([sys.executable, "-m", "parcours.cli", "dlq", *args, "--service", "outcomes"],
                          env=env, capture_output=True, text=True, timeout=60)


async def test_an_impossible_transition_waits_in_the_dlq_and_is_replayed_after_the_fix(dsn, kafka):
    app = create_app(OutcomesSettings(database_url=dsn, kafka_bootstrap_servers=kafka, consumer_batch_timeout_ms=50,
                                      relay_idle_seconds=0.02))
    p, learner, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    early_exit = f.exited(learner, p)  # its start was never sent: an impossible transition here
    async with running(app) as client:
        await publish(kafka, [f.programme(p), early_exit, f.started(other, p), f.exited(other, p)])

        async def followups(n):
            async def check():
                return (await client.get("/stats")).json()["followups"] >= n
            return check

        await eventually(await followups(1))  # the valid learner behind it was not blocked
        listed = cli(dsn, "list")
        assert listed.returncode == 0, listed.stderr
        assert "training.exited refused" in listed.stdout and "never started" in listed.stdout
        assert listed.stdout.strip().endswith("1 dead letter(s)")

        async def dead_lettered():  # the .dlq copy leaves through the outbox, after the commit
            dlq = await read_topic(kafka, "parcours.training.dlq")
            return any(r.key == str(learner).encode() and dict(r.headers)["dlq_reason"] == b"refused" for r in dlq)
        await eventually(dead_lettered, timeout=20)

        # The fix: the missing start arrives; then the exit is re-driven.
        await publish(kafka, [f.started(learner, p)])
        assert cli(dsn, "replay").returncode == 2  # nothing named: refuses to guess
        replayed = cli(dsn, "replay", "--all")
        assert replayed.returncode == 0 and "1 dead letter(s) queued" in replayed.stdout
        await eventually(await followups(2))
        assert (await client.get(f"/followups/{learner}/{p}")).status_code == 200
        assert cli(dsn, "list").stdout.strip().endswith("0 dead letter(s)")
        assert "replayed" in cli(dsn, "list", "--all").stdout


async def test_a_refused_event_delivered_again_after_the_fix_is_listed_as_applied(dsn, kafka):
    """After a broker loss and `parcours resync`, an event refused out of order comes back behind
    the events it needed and is applied: the list says so instead of showing it waiting."""
    app = create_app(OutcomesSettings(database_url=dsn, kafka_bootstrap_servers=kafka, consumer_batch_timeout_ms=50,
                                      relay_idle_seconds=0.02))
    p, learner = uuid.uuid4(), uuid.uuid4()
    early_exit = f.exited(learner, p)
    async with running(app) as client:
        await publish(kafka, [f.programme(p), early_exit])
        await eventually(lambda: _dead_letters(dsn))
        assert "training.exited refused (waiting)" in cli(dsn, "list").stdout
        await publish(kafka, [f.started(learner, p), early_exit])  # re-published: the same event_id
        await eventually(lambda: _followup(client, learner, p))
        listed = cli(dsn, "list")
        assert "training.exited refused (applied since, nothing to replay)" in listed.stdout, listed.stdout
        assert listed.stdout.strip().endswith("1 dead letter(s)")


async def _dead_letters(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM dead_letters")
    finally:
        await conn.close()


async def _followup(client, learner, programme) -> bool:
    return (await client.get(f"/followups/{learner}/{programme}")).status_code == 200
