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


async def enrolments_of(client, learner, programme, n):
    async def all_there():
        r = await client.get(f"/enrolments/{learner}/{programme}")
        return r.status_code == 200 and 1 + len(r.json()["other_enrolments"]) == n and r.json()
    return await eventually(all_there)


@pytest.mark.parametrize("first_exit", [{"exit_reason": "dropped_out", "dropout_cause": "personal"},
                                        {"exit_reason": "not_certified"}], ids=["after_dropout", "retake"])
async def test_one_enrolment_per_admission_readmitted_after_dropping_out(app, kafka, first_exit):
    """A learner drops out of (or fails the certification of) the March session and is admitted to
    the September one: a second enrolment, which her facts find without naming it, and each event
    names its enrolment."""
    learner, programme = uuid.uuid4(), uuid.uuid4()
    first, second = uuid.uuid4(), uuid.uuid4()
    s1, s2 = uuid.uuid4(), uuid.uuid4()
    async with running(app) as client:
        await publish(kafka, [f.programme(programme), f.admitted(learner, programme, first, s1)])
        await enrolments_of(client, learner, programme, 1)
        for step in (fact(learner, programme, "started", "2020-03-02T09:00:00+01:00"),
                     fact(learner, programme, "exited", "2020-04-10T17:00:00+02:00", **first_exit)):
            r = await client.post("/facts", json=step)
            assert r.status_code == 201 and r.json()["enrolment_id"] == str(first), r.text
        await publish(kafka, [f.admitted(learner, programme, second, s2, at="2020-08-01T10:00:00")])
        await enrolments_of(client, learner, programme, 2)
        started = await client.post("/facts", json=fact(learner, programme, "started", "2020-09-07T09:00:00+02:00"))
        late = await client.post("/facts", json=fact(learner, programme, "attendance", "2020-03-31T18:00:00+02:00",
                                                     hours=70))
        ended = await client.post("/facts", json=fact(learner, programme, "exited", "2021-03-05T17:00:00+01:00",
                                                      exit_reason="certified"))
        view = await enrolments_of(client, learner, programme, 2)

        async def published():
            records = [r for r in await read_topic(kafka, "parcours.training") if r.key == str(learner).encode()]
            return len(records) == 5 and records
        events = events_of(await eventually(published))
    assert started.json()["enrolment_id"] == str(second) and started.json()["state"] == "started"
    assert late.json()["enrolment_id"] == str(first) and late.json()["placed"] == "late"
    assert ended.json()["enrolment_id"] == str(second)
    assert (view["enrolment_id"], view["state"], view["session_id"]) == (str(second), "exited", str(s2))
    assert view["other_enrolments"][0]["state"] == "exited"
    assert view["other_enrolments"][0]["exit_reason"] == first_exit["exit_reason"]
    assert [(e.event_type, e.schema_version, str(e.data.enrolment_id)) for e in events] == [
        ("training.started", 2, str(first)), ("training.exited", 2, str(first)),
        ("training.started", 2, str(second)), ("training.attendance", 2, str(first)),
        ("training.exited", 2, str(second))]
    assert events[2].data.session_id == s2 and events[2].data.application_id == second


async def test_two_admissions_one_start_must_name_the_enrolment(app, kafka):
    """Admitted to two sessions of a programme, a learner starts one: a start that does not say
    which is refused with both enrolments named; named, it applies, and the other stays admitted."""
    learner, programme = uuid.uuid4(), uuid.uuid4()
    a, b = uuid.uuid4(), uuid.uuid4()
    async with running(app) as client:
        await publish(kafka, [f.programme(programme), f.admitted(learner, programme, a, uuid.uuid4()),
                              f.admitted(learner, programme, b, uuid.uuid4())])
        await enrolments_of(client, learner, programme, 2)
        vague = await client.post("/facts", json=fact(learner, programme, "started", "2020-03-02T09:00:00Z"))
        named = await client.post("/facts", json=fact(learner, programme, "started", "2020-03-02T09:00:00Z",
                                                      application_id=str(b)))
        then = await client.post("/facts", json=fact(learner, programme, "attendance", "2020-03-31T18:00:00Z",
                                                     hours=35))
        wrong = await client.post("/facts", json=fact(learner, programme, "attendance", "2020-03-31T18:00:00Z",
                                                     hours=35, enrolment_id=str(uuid.uuid4())))
        await publish(kafka, [f.admitted(learner, programme, a, decision="no_show", at="2020-03-10T10:00:00")])
        view = await enrolments_of(client, learner, programme, 2)

        async def no_show():
            r = (await client.get(f"/enrolments/{learner}/{programme}")).json()
            states = {e["enrolment_id"]: e["state"] for e in [r, *r["other_enrolments"]]}
            return states[str(a)] == "no_show" and states
        states = await eventually(no_show)
    assert vague.status_code == 409 and vague.json()["code"] == "ambiguous_enrolment"
    assert str(a) in vague.json()["detail"] and str(b) in vague.json()["detail"]
    assert named.status_code == 201 and named.json()["enrolment_id"] == str(b)
    assert then.status_code == 201 and then.json()["enrolment_id"] == str(b)  # the only one started
    assert wrong.status_code == 422 and wrong.json()["code"] == "not_admitted"
    assert states == {str(a): "no_show", str(b): "started"} and view


async def test_a_transfer_continues_in_another_programme_without_a_new_application(app, kafka):
    learner, source, destination = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    application = uuid.uuid4()
    async with running(app) as client:
        await publish(kafka, [f.programme(source), f.programme(destination),
                              f.admitted(learner, source, application, uuid.uuid4())])
        await enrolments_of(client, learner, source, 1)
        await client.post("/facts", json=fact(learner, source, "started", "2020-03-02T09:00:00Z"))
        unknown = await client.post("/facts", json=fact(learner, source, "exited", "2020-05-04T17:00:00Z",
                                                        exit_reason="transferred",
                                                        transfer_to_programme_id=str(uuid.uuid4())))
        moved = await client.post("/facts", json=fact(learner, source, "exited", "2020-05-04T17:00:00Z",
                                                      exit_reason="transferred",
                                                      transfer_to_programme_id=str(destination)))
        there = await client.post("/facts", json=fact(learner, destination, "attendance", "2020-05-31T18:00:00Z",
                                                      hours=60))
        done = await client.post("/facts", json=fact(learner, destination, "exited", "2020-11-02T17:00:00Z",
                                                     exit_reason="certified"))
        continued = (await client.get(f"/enrolments/{learner}/{destination}")).json()

        async def published():
            records = [r for r in await read_topic(kafka, "parcours.training") if r.key == str(learner).encode()]
            return len(records) == 5 and records
        events = events_of(await eventually(published))
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_programme"
    assert moved.status_code == 201 and there.status_code == 201 and done.status_code == 201
    assert continued["transferred_from"] == str(application) and continued["application_id"] is None
    assert continued["state"] == "exited" and continued["attendance_hours"] == 60
    assert [f["type"] for f in continued["facts"]] == ["started", "attendance", "exited"]
    kinds = [(e.event_type, e.programme_id) for e in events]
    assert kinds == [("training.started", source), ("training.exited", source), ("training.started", destination),
                     ("training.attendance", destination), ("training.exited", destination)]
    assert events[1].data.transfer_to_enrolment_id == events[2].data.enrolment_id == uuid.UUID(
        continued["enrolment_id"])
    assert events[2].data.transferred_from == application
