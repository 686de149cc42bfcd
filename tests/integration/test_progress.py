"""Progress against a real PostgreSQL and a real Kafka-protocol broker."""

from __future__ import annotations

import uuid

import pytest

from services.progress.app import create_app
from services.progress.config import ProgressSettings
from tests.integration import factories as f
from tests.integration.helpers import events_of, eventually, publish, read_topic, running

pytestmark = pytest.mark.integration


@pytest.fixture
def app(new_database, kafka):
    return create_app(ProgressSettings(database_url=new_database("services.progress"),
                                       kafka_bootstrap_servers=kafka, relay_idle_seconds=0.02,
                                       consumer_batch_timeout_ms=50))


async def admitted_learner(client, kafka, decision="admitted"):
    learner, programme = uuid.uuid4(), uuid.uuid4()
    await publish(kafka, [f.programme(programme), f.submitted(learner, programme), f.decided(learner, programme,
                                                                                            decision)])
    if decision == "admitted":
        async def enrolled():
            r = await client.get(f"/enrolments/{learner}/{programme}")
            return r.status_code == 200 and r.json()
        assert (await eventually(enrolled))["state"] == "admitted"
    return learner, programme


def fact(learner, programme, type_, at, **extra) -> dict:
    return {"learner_id": str(learner), "programme_id": str(programme), "type": type_, "occurred_at": at, **extra}


async def test_the_whole_training_path_and_its_events_in_order(app, kafka):
    async with running(app) as client:
        learner, programme = await admitted_learner(client, kafka)
        steps = [
            fact(learner, programme, "started", "2020-03-02T09:00:00Z"),
            fact(learner, programme, "attendance", "2020-03-31T18:00:00Z", hours=120),
            fact(learner, programme, "milestone", "2020-04-15T12:00:00Z", milestone="first project"),
            fact(learner, programme, "interrupted", "2020-05-01T09:00:00Z", reason="health"),
            fact(learner, programme, "resumed", "2020-05-20T09:00:00Z"),
            fact(learner, programme, "attendance", "2020-06-30T18:00:00Z", hours=100.5),
            fact(learner, programme, "exited", "2020-10-02T17:00:00Z", exit_reason="certified"),
        ]
        for step in steps:
            r = await client.post("/facts", json=step)
            assert r.status_code == 201, r.text
        view = (await client.get(f"/enrolments/{learner}/{programme}")).json()
        assert view["state"] == "exited" and view["exit_reason"] == "certified"
        assert view["attendance_hours"] == 220.5

        async def published():
            records = await read_topic(kafka, "parcours.training")
            return [r for r in records if r.key == str(learner).encode()]

        records = await eventually(lambda: _at_least(published, 7))
    assert [e.event_type for e in events_of(records)] == [
        "training.started", "training.attendance", "training.milestone", "training.interrupted",
        "training.resumed", "training.attendance", "training.exited"]


async def _at_least(fetch, n):
    records = await fetch()
    return records if len(records) >= n else None


async def test_refusals_explain_themselves(app, kafka):
    async with running(app) as client:
        learner, programme = await admitted_learner(client, kafka)
        stranger = fact(uuid.uuid4(), programme, "started", "2020-03-02T09:00:00Z")
        r = await client.post("/facts", json=stranger)
        assert r.status_code == 422 and r.json()["code"] == "not_admitted"
        r = await client.post("/facts", json=fact(learner, programme, "attendance", "2020-03-03T09:00:00Z", hours=3))
        assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
        assert (await client.post("/facts", json=fact(learner, programme, "started", "2020-03-02T09:00:00Z"))
                ).status_code == 201
        r = await client.post("/facts", json=fact(learner, programme, "exited", "2020-03-01T09:00:00Z",
                                                  exit_reason="completed"))
        assert r.status_code == 409 and r.json()["code"] == "out_of_order"
        r = await client.post("/facts", json=fact(learner, programme, "exited", "2020-06-01T09:00:00Z",
                                                  exit_reason="dropped_out"))
        assert r.status_code == 422 and "dropout_cause" in r.text
        assert (await client.post("/facts", json=fact(learner, programme, "exited", "2020-06-01T09:00:00Z",
                                                      exit_reason="dropped_out", dropout_cause="health"))
                ).status_code == 201
        r = await client.post("/facts", json=fact(learner, programme, "attendance", "2020-07-01T09:00:00Z", hours=2))
        assert r.status_code == 409 and r.json()["code"] == "out_of_order"
        r = await client.post("/facts", json=fact(learner, programme, "resumed", "2020-07-01T09:00:00Z"))
        assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
        assert (await client.get(f"/enrolments/{learner}/{programme}")).json()["exit_reason"] == "dropped_out"


async def test_rejected_candidates_get_no_enrolment(app, kafka):
    async with running(app) as client:
        learner, programme = await admitted_learner(client, kafka, decision="rejected")
        admitted, other = await admitted_learner(client, kafka)  # processed after the rejection
        assert (await client.get(f"/enrolments/{admitted}/{other}")).status_code == 200
        assert (await client.get(f"/enrolments/{learner}/{programme}")).status_code == 404


async def test_event_id_makes_a_fact_idempotent(app, kafka):
    async with running(app) as client:
        learner, programme = await admitted_learner(client, kafka)
        body = fact(learner, programme, "started", "2020-03-02T09:00:00Z", event_id=str(uuid.uuid4()))
        first = await client.post("/facts", json=body)
        again = await client.post("/facts", json=body)
        other = await client.post("/facts", json=body | {"occurred_at": "2020-03-03T09:00:00Z"})
    assert first.status_code == 201 and first.json()["result"] == "applied"
    assert again.status_code == 200 and again.json()["result"] == "duplicate"
    assert again.json()["event_id"] == first.json()["event_id"]
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"


async def test_batch_partial_success(app, kafka):
    async with running(app) as client:
        learner, programme = await admitted_learner(client, kafka)
        items = [
            fact(learner, programme, "started", "2020-03-02T09:00:00Z"),
            fact(learner, programme, "started", "2020-03-03T09:00:00Z"),  # twice: refused
            {"learner_id": "nope"},  # invalid
            fact(learner, programme, "attendance", "2020-03-30T09:00:00Z", hours=35),
        ]
        r = await client.post("/facts/batch", json={"items": items})
        body = r.json()
        view = (await client.get(f"/enrolments/{learner}/{programme}")).json()
    assert r.status_code == 200
    assert [x["result"] for x in body["results"]] == ["applied", "refused", "refused", "applied"]
    assert body["results"][1]["code"] == "invalid_transition"
    assert {e["field"] for e in body["results"][2]["errors"]} >= {"learner_id", "type"}
    assert view["state"] == "started" and view["attendance_hours"] == 35


def random_facts(learners: list, programme_of: dict, rng, n: int) -> list[dict]:
    """Facts of every kind, often out of date order, some repeated (same event_id) or conflicting."""
    items: list[dict] = []
    for _ in range(n):
        if items and rng.random() < 0.15:
            earlier = rng.choice(items)
            if "event_id" in earlier:
                items.append(dict(earlier) if rng.random() < 0.5 else earlier | {"occurred_at": "2020-12-01T09:00:00Z"})
                continue
        learner = rng.choice(learners)
        kind = rng.choices(["started", "attendance", "milestone", "interrupted", "resumed", "exited"],
                           [3, 6, 1, 1, 1, 2])[0]
        at = f"2020-{rng.randint(3, 9):02d}-{rng.randint(1, 28):02d}T09:00:00Z"
        extra = {"attendance": {"hours": rng.randint(1, 35)}, "milestone": {"milestone": "project"},
                 "interrupted": {"reason": "health"}, "exited": {"exit_reason": "completed"}}.get(kind, {})
        item = fact(learner, programme_of[learner], kind, at, **extra)
        if rng.random() < 0.5:
            item["event_id"] = str(uuid.uuid4())
        items.append(item)
    return items


async def test_a_batch_means_what_the_same_facts_posted_one_by_one_mean(app, kafka):
    """The batch path is set-based (enrolments read and written once per batch); posting the same
    facts one request at a time must give the same answers and leave the same enrolments."""
    import random

    rng = random.Random(7)
    async with running(app) as client:
        pairs = [await admitted_learner(client, kafka) for _ in range(8)]
        one_by_one, batched = pairs[:4], pairs[4:]
        programme_of = dict(pairs)
        template = random_facts([lr for lr, _ in one_by_one], programme_of, rng, 160)
        twin = {str(a): (str(b), str(programme_of[b])) for (a, _), (b, _) in zip(one_by_one, batched, strict=True)}
        ids = {item["event_id"]: str(uuid.uuid4()) for item in template if "event_id" in item}

        def as_twin(item: dict) -> dict:
            learner, programme = twin[item["learner_id"]]
            out = item | {"learner_id": learner, "programme_id": programme}
            if "event_id" in item:
                out["event_id"] = ids[item["event_id"]]
            return out

        singles = [await client.post("/facts", json=item) for item in template]
        batch = await client.post("/facts/batch", json={"items": [as_twin(item) for item in template]})
        views = {}
        for learner, programme in pairs:
            views[learner] = (await client.get(f"/enrolments/{learner}/{programme}")).json()

    def answer(body: dict) -> tuple:
        return (body.get("result", "refused"), body.get("state"), body.get("placed"), body.get("code"))

    assert batch.status_code == 200
    got = [answer(r) for r in batch.json()["results"]]
    expected = [answer(r.json()) for r in singles]
    assert got == expected
    assert {a for a, *_ in got} >= {"applied", "refused", "duplicate"}
    assert {c for *_, c in got} >= {"invalid_transition", "out_of_order", "idempotency_conflict"}
    assert any(p == "late" for _, _, p, _ in got)  # late facts placed among the batch's own facts
    for (a, _), (b, _) in zip(one_by_one, batched, strict=True):
        fields = ("state", "started_at", "exited_at", "exit_reason", "attendance_hours")
        assert {k: views[a][k] for k in fields} == {k: views[b][k] for k in fields}
        assert [(x["type"], x["occurred_at"]) for x in views[a]["facts"]] == \
               [(x["type"], x["occurred_at"]) for x in views[b]["facts"]]
