"""Outcomes against a real PostgreSQL and a real Kafka-protocol broker: projection, follow-ups,
outcomes, key figures, and the delivery guarantees of its consumer (inbox, dead letters)."""

from __future__ import annotations

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


@pytest.fixture
def app(dsn, kafka):
    return create_app(OutcomesSettings(database_url=dsn, kafka_bootstrap_servers=kafka,
                                       relay_idle_seconds=0.02, consumer_batch_timeout_ms=50))


def journey(learner, programme, reason="certified", exit_at="2020-10-02T17:00:00", **profile):
    return [f.submitted(learner, programme, **profile), f.decided(learner, programme),
            f.started(learner, programme), f.exited(learner, programme, reason, exit_at,
                                                    "health" if reason == "dropped_out" else None)]


async def applied(client, n):
    async def check():
        stats = (await client.get("/stats")).json()
        return sum(stats["events_applied"].values()) >= n and stats
    return await eventually(check)


async def test_an_exit_opens_a_followup_six_months_later_clamped_to_month_end(app, kafka):
    learner, programme = uuid.uuid4(), uuid.uuid4()
    events = [f.programme(programme), *journey(learner, programme, exit_at="2019-08-31T17:00:00")]
    async with running(app) as client:
        await publish(kafka, events)
        await applied(client, len(events))
        r = await client.get(f"/followups/{learner}/{programme}")
    assert r.status_code == 200
    body = r.json()
    assert body["exit_date"] == "2019-08-31"
    assert body["observation_date"] == "2020-02-29"
    assert (body["window_start"], body["window_end"]) == ("2020-01-29", "2020-04-29")
    assert body["status"] == "overdue"  # the window closed long ago with nothing recorded


async def test_key_figures_match_a_hand_computed_cohort(app, kafka):
    p1, p2 = uuid.uuid4(), uuid.uuid4()
    a, b, c, d, e = (uuid.uuid4() for _ in range(5))
    rejected = uuid.uuid4()
    events = [
        f.programme(p1, capacity=10), f.programme(p2, capacity=5),
        *journey(a, p1, "certified", gender="female", education_level="3"),
        *journey(b, p1, "dropped_out", exit_at="2020-05-02T16:00:00", qpv=False, age_band="26_44"),
        *journey(c, p2, "not_certified", gender="male", education_level="6", job_seeker=False),
        *journey(d, p2, "transferred", exit_at="2020-06-02T16:00:00"),
        # e: admitted and started but still in training
        f.submitted(e, p2), f.decided(e, p2), f.started(e, p2),
        f.submitted(rejected, p1), f.decided(rejected, p1, "rejected"),
    ]
    async with running(app) as client:
        await publish(kafka, events)
        await applied(client, len(events))
        outcomes = {a: ("permanent_contract", True), b: ("further_study", False), c: ("job_seeker", False)}
        for learner, (situation, digital) in outcomes.items():
            programme = p1 if learner in (a, b) else p2
            r = await client.post(f"/followups/{learner}/{programme}/outcome", json={
                "situation": situation, "digital_job": digital, "observed_on": "2021-04-02"})
            assert r.status_code == 201, r.text
        again = await client.post(f"/followups/{a}/{p1}/outcome", json={
            "situation": "inactive", "observed_on": "2021-04-02"})
        assert again.status_code == 409
        none = await client.post(f"/followups/{d}/{p2}/outcome", json={
            "situation": "inactive", "observed_on": "2021-04-02"})
        assert none.status_code == 404  # a transfer opens no follow-up
        figures = (await client.get("/key-figures", params={"year": 2020})).json()
        empty = (await client.get("/key-figures", params={"year": 2015})).json()
    counts, rates = figures["counts"], figures["rates"]
    assert counts["applications_submitted"] == 6 and counts["applications_admitted"] == 5
    assert counts["applications_rejected"] == 1 and counts["places_offered"] == 15
    assert counts["learners_started"] == 5 and counts["learners_trained_or_in_training"] == 5
    assert counts["learners_women"] == 4 and counts["learners_bac_or_lower"] == 4
    assert counts["learners_qpv"] == 4 and counts["learners_job_seekers"] == 4
    assert counts["learners_under_26"] == 4
    assert counts["exits_by_reason"] == {"completed": 0, "certified": 1, "not_certified": 1,
                                         "dropped_out": 1, "excluded": 0}
    assert counts["exits_total"] == 3 and counts["followups_in_scope"] == 3
    assert counts["outcomes_recorded"] == 3 and counts["outcomes_digital_job"] == 1
    assert rates["admission_rate"] == {"value": round(5 / 6, 6), "numerator": 5, "denominator": 6}
    assert rates["completion_rate"]["numerator"] == 2 and rates["completion_rate"]["denominator"] == 3
    assert rates["certification_rate"]["value"] == 0.5
    assert rates["positive_exit_rate"]["gen_2020"] == {"value": round(2 / 3, 6), "numerator": 2, "denominator": 3}
    assert rates["positive_exit_rate"]["durable_employment_v1"]["numerator"] == 1
    assert rates["response_rate"]["value"] == 1.0
    assert empty["counts"]["applications_submitted"] == 0
    assert empty["rates"]["admission_rate"]["value"] is None


async def test_duplicates_are_applied_once_and_poison_is_set_aside(app, kafka, dsn):
    learner, programme = uuid.uuid4(), uuid.uuid4()
    events = [f.programme(programme), *journey(learner, programme)]
    exit_event = events[-1]
    poison = [
        ("parcours.training", b"{not json", [("event_type", b"training.exited"), ("schema_version", b"1")]),
        ("parcours.training", b'{"event_id": "x"}', [("event_type", b"training.exited"), ("schema_version", b"1")]),
        ("parcours.training", exit_event.model_dump_json().encode(),
         [("event_type", b"training.exited"), ("schema_version", b"99")]),
    ]
    async with running(app) as client:
        await publish(kafka, events + [exit_event, exit_event], raw=poison)
        stats = await applied(client, len(events))

        async def dead_lettered():
            return len(await read_topic(kafka, "parcours.training.dlq")) >= 3
        await eventually(dead_lettered)
        metrics = (await client.get("/metrics")).text
    assert stats["events_applied"]["training.exited"] == 1
    assert stats["followups"] == 1
    conn = await asyncpg.connect(dsn)
    try:
        reasons = sorted(r["reason"] for r in await conn.fetch("SELECT reason FROM dead_letters"))
    finally:
        await conn.close()
    assert reasons == ["invalid_schema", "undecodable", "unknown_type"]
    records = await read_topic(kafka, "parcours.training.dlq")
    assert {dict(r.headers)["dlq_reason"] for r in records} == {b"invalid_schema", b"undecodable", b"unknown_type"}
    assert 'result="duplicate"' in metrics and "parcours_dead_lettered_total" in metrics
