"""Late facts placed at their date, corrections (void, amend) and Idempotency-Key on progress,
and corrections reaching the outcomes projection and its key figures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from services.outcomes.app import create_app as create_outcomes
from services.outcomes.config import OutcomesSettings
from services.progress.app import create_app
from services.progress.config import ProgressSettings
from shared.contracts import LearnerErased, TrainingCorrected, TrainingMilestoneV2
from tests.integration import factories as f
from tests.integration.helpers import events_of, eventually, publish, read_topic, running
from tests.integration.test_progress import admitted_learner, fact

pytestmark = pytest.mark.integration


@pytest.fixture
def app(new_database, kafka):
    return create_app(ProgressSettings(database_url=new_database("services.progress"),
                                       kafka_bootstrap_servers=kafka, relay_idle_seconds=0.02,
                                       consumer_batch_timeout_ms=50))


async def test_late_facts_are_placed_at_their_date_or_refused_with_the_reason(app, kafka):
    async with running(app) as client:
        learner, programme = await admitted_learner(client, kafka)
        for step in (fact(learner, programme, "started", "2020-03-02T09:00:00Z"),
                     fact(learner, programme, "attendance", "2020-05-31T18:00:00Z", hours=100),
                     fact(learner, programme, "exited", "2020-10-02T17:00:00Z", exit_reason="completed")):
            assert (await client.post("/facts", json=step)).status_code == 201
        # A month of attendance uploaded late, and an interruption that happened in April.
        r = await client.post("/facts", json=fact(learner, programme, "attendance", "2020-03-31T18:00:00Z", hours=60))
        assert r.status_code == 201 and r.json()["placed"] == "late" and r.json()["state"] == "exited"
        r = await client.post("/facts", json=fact(learner, programme, "interrupted", "2020-04-06T09:00:00Z"))
        assert r.status_code == 201 and r.json()["state"] == "exited"
        assert (await client.post("/facts", json=fact(learner, programme, "resumed", "2020-04-20T09:00:00Z"))
                ).status_code == 201
        # A resume with no interruption before it cannot fit, and says why.
        r = await client.post("/facts", json=fact(learner, programme, "resumed", "2020-03-20T09:00:00Z"))
        assert r.status_code == 409 and "placed at its date" in r.json()["detail"]
        assert "only an interrupted training can resume" in r.json()["detail"]
        r = await client.post("/facts", json=fact(learner, programme, "milestone", "2020-02-01T12:00:00Z",
                                                  milestone="before anything"))
        assert r.status_code == 409 and r.json()["code"] == "out_of_order" and "before the start" in r.json()["detail"]
        view = (await client.get(f"/enrolments/{learner}/{programme}")).json()
    assert view["state"] == "exited" and view["attendance_hours"] == 160
    assert [x["type"] for x in view["facts"]] == ["started", "attendance", "interrupted", "resumed", "attendance",
                                                  "exited"]


async def test_idempotency_key_header(app, kafka):
    async with running(app) as client:
        learner, programme = await admitted_learner(client, kafka)
        body = fact(learner, programme, "started", "2020-03-02T09:00:00Z")
        headers = {"Idempotency-Key": "centre-42/upload-7/line-1"}
        first = await client.post("/facts", json=body, headers=headers)
        again = await client.post("/facts", json=body, headers=headers)
        other = await client.post("/facts", json=body | {"occurred_at": "2020-03-03T09:00:00Z"}, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json() | {"result": "duplicate", "placed": None}
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"


async def test_void_and_amend_recompute_the_enrolment_and_tell_downstream(app, kafka):
    async with running(app) as client:
        learner, programme = await admitted_learner(client, kafka)
        ids = {}
        for name, step in (("start", fact(learner, programme, "started", "2020-03-02T09:00:00Z")),
                           ("wrong", fact(learner, programme, "attendance", "2020-03-31T18:00:00Z", hours=700)),
                           ("exit", fact(learner, programme, "exited", "2020-10-02T17:00:00Z",
                                         exit_reason="certified"))):
            ids[name] = (await client.post("/facts", json=step)).json()["event_id"]
        r = await client.post(f"/facts/{ids['wrong']}/corrections", json={"action": "amend", "hours": 99})
        assert r.status_code == 201 and r.json()["state"] == "exited"
        key = {"Idempotency-Key": "fix-exit-1"}
        amend = {"action": "amend", "exit_reason": "dropped_out", "dropout_cause": "found_job",
                 "occurred_at": "2020-06-15T16:00:00Z", "note": "the centre had the wrong form"}
        first = await client.post(f"/facts/{ids['exit']}/corrections", json=amend, headers=key)
        again = await client.post(f"/facts/{ids['exit']}/corrections", json=amend, headers=key)
        assert first.status_code == 201 and again.status_code == 200 and again.json()["result"] == "duplicate"
        clash = await client.post(f"/facts/{ids['exit']}/corrections", json={"action": "void"}, headers=key)
        assert clash.status_code == 409
        view = (await client.get(f"/enrolments/{learner}/{programme}")).json()
        summary = (view["exit_reason"], view["dropout_cause"], view["attendance_hours"])
        assert summary == ("dropped_out", "found_job", 99)
        assert view["exited_at"].startswith("2020-06-15")
        r = await client.post(f"/facts/{ids['start']}/corrections", json={"action": "void"})
        assert r.status_code == 409 and "would not hold" in r.json()["detail"]
        r = await client.post(f"/facts/{ids['exit']}/corrections", json={"action": "void"})
        assert r.status_code == 201 and r.json()["state"] == "started"
        assert (await client.post(f"/facts/{ids['exit']}/corrections", json={"action": "void"})).status_code == 409
        assert (await client.post(f"/facts/{uuid.uuid4()}/corrections", json={"action": "void"})).status_code == 404
        bad = await client.post(f"/facts/{ids['wrong']}/corrections", json={"action": "amend"})
        assert bad.status_code == 422

        async def corrections():
            records = [r for r in await read_topic(kafka, "parcours.training") if r.key == str(learner).encode()]
            found = [e for e in events_of(records) if e.event_type == "training.corrected"]
            return found if len(found) >= 3 else None

        found = await eventually(corrections)
    assert [(e.data.action, e.data.state, e.data.exit_reason) for e in found] == [
        ("amend", "exited", "certified"), ("amend", "exited", "dropped_out"), ("void", "started", None)]


@pytest.fixture
def outcomes(new_database, kafka):
    return create_outcomes(OutcomesSettings(database_url=new_database("services.outcomes"),
                                            kafka_bootstrap_servers=kafka, consumer_batch_timeout_ms=50))


async def test_corrections_reach_the_key_figures(outcomes, kafka):
    p, a, b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    exit_a, exit_b = f.exited(a, p, "certified"), f.exited(b, p, "completed")

    def corrected(learner, original, **summary):
        return TrainingCorrected.build(**f.envelope(learner, p, producer="progress"), data={
            "corrected_event_id": original.event_id, "fact_type": "exited", **summary})

    events = [f.programme(p), f.submitted(a, p), f.decided(a, p), f.started(a, p), exit_a,
              f.submitted(b, p), f.decided(b, p), f.started(b, p), exit_b,
              corrected(a, exit_a, action="amend", state="exited", started_at=f.moment("2020-03-02T09:00:00"),
                        exited_at=f.moment("2021-01-15T16:00:00"), exit_reason="dropped_out",
                        dropout_cause="found_job"),
              corrected(b, exit_b, action="void", state="started", started_at=f.moment("2020-03-02T09:00:00"))]
    async with running(outcomes) as client:
        await publish(kafka, events)

        async def settled():
            stats = (await client.get("/stats")).json()
            return sum(stats["events_applied"].values()) >= len(events)
        await eventually(settled)
        # The broker is shared by this module's tests: look at this programme's figures only.
        async def figures(year):
            body = (await client.get("/key-figures", params={"year": year, "by": "programme"})).json()
            return next(g["counts"] for g in body["breakdown"]["groups"] if g["key"] == str(p))

        y2020, y2021 = await figures(2020), await figures(2021)
        moved = (await client.get(f"/followups/{a}/{p}")).json()
        gone = await client.get(f"/followups/{b}/{p}")
    assert y2020["exits_total"] == 0 and y2020["followups_in_scope"] == 0
    assert y2021["exits_by_reason"]["dropped_out"] == 1 and y2021["followups_in_scope"] == 1
    assert y2021["learners_trained_or_in_training"] == 2  # b is in training again
    assert moved["exit_date"] == "2021-01-15" and moved["observation_date"] == "2021-07-15"
    assert gone.status_code == 404


async def _text_of_every_row(dsn: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        seen = []
        for table in tables:  # names from the catalog
            for row in await conn.fetch(f'SELECT * FROM "{table}"'):
                seen += [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in row.values()]
        return "\n".join(seen)
    finally:
        await conn.close()


@pytest.fixture
def dsn(new_database):
    return new_database("services.progress")


async def test_security_4_erasure_reaches_the_outbox_the_corrections_and_the_dead_letters(dsn, kafka):
    # Finding 4 of the security review: the facts' free text was erased, but not the outbox (published
    # again by every resync), the corrections' before and after, nor the dead letters.
    app = create_app(ProgressSettings(database_url=dsn, kafka_bootstrap_servers=kafka, relay_idle_seconds=0.02,
                                      consumer_batch_timeout_ms=50))
    async with running(app) as client:
        learner, programme = await admitted_learner(client, kafka)
        await client.post("/facts", json=fact(learner, programme, "started", "2020-03-02T09:00:00Z"))
        milestone = await client.post("/facts", json=fact(learner, programme, "milestone", "2020-04-01T09:00:00Z",
                                                          milestone="Stage chez Dupont SARL"))
        await client.post("/facts", json=fact(learner, programme, "interrupted", "2020-04-06T09:00:00Z",
                                              reason="hospitalisée à Lille"))
        amended = await client.post(f"/facts/{milestone.json()['event_id']}/corrections",
                                    json={"action": "amend", "milestone": "Stage chez Martin et fils"})
        assert amended.status_code == 201
        enrolment_id = uuid.uuid4()
        kept = TrainingMilestoneV2.build(**f.envelope(learner, programme, "2020-04-02T09:00:00", "progress"), data={
            "enrolment_id": enrolment_id, "application_id": enrolment_id, "milestone": "Projet secret Durand"})
        pool = app.state.runtime.pool
        await pool.execute(
            "INSERT INTO dead_letters (topic, partition, \"offset\", key, payload, reason, error) "
            "VALUES ('parcours.training', 0, 1, $1, $2, 'refused', 'test'), "
            "('parcours.training', 0, 2, $1, $3, 'undecodable', 'test')",
            str(learner).encode(), kept.model_dump_json().encode(), b"\xff Durand \xfe")
        before = await _text_of_every_row(dsn)
        now = datetime.now(UTC)
        await publish(kafka, [LearnerErased.build(event_id=uuid.uuid4(), occurred_at=now, recorded_at=now,
                                                  producer="intake", learner_id=learner)])

        async def erased():
            return await pool.fetchval("SELECT count(*) FROM processed_events WHERE event_type = 'learner.erased'")
        await eventually(erased)
        after = await _text_of_every_row(dsn)
        enrolment = (await client.get(f"/enrolments/{learner}/{programme}")).json()
    for text in ("Dupont", "Lille", "Martin", "Durand"):
        assert text in before and text not in after, text
    assert enrolment["state"] == "interrupted" and len(enrolment["facts"]) == 3  # the facts stay
