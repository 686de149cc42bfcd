"""Intake against a real PostgreSQL and a real Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from parcours.stack import EmbeddedBroker, free_port
from services.intake.app import create_app
from services.intake.config import IntakeSettings
from shared.plumbing import auth
from shared.plumbing.db import create_pool
from tests.integration import factories as f
from tests.integration.helpers import events_of, eventually, publish, read_topic, running

pytestmark = pytest.mark.integration


def programme_body(capacity: int = 20, **over) -> dict:
    body = {"centre_id": str(uuid.uuid4()), "centre_name": "Centre de Lille", "title": "Développeur web",
            "region": "32", "job_family": "M1805", "duration_months": 7, "capacity": capacity,
            "start_date": "2020-03-02"}
    body.update(over)
    return body


def application_body(programme_id: str, email: str = "Ada.Lovelace@Example.org ") -> dict:
    return {"programme_id": programme_id, "submitted_at": "2020-01-15T10:00:00+01:00",
            "candidate": {"first_name": "  Ada ", "last_name": "Lovelace", "email": email,
                          "phone": "06 12 34 56 78", "birth_year": 1998, "gender": "female",
                          "education_level": "4", "qpv": True, "zrr": False, "job_seeker": True,
                          "region": "32"}}


@pytest.fixture
def app(new_database, kafka):
    return create_app(IntakeSettings(database_url=new_database("services.intake"),
                                     kafka_bootstrap_servers=kafka, relay_idle_seconds=0.02))


async def test_programme_and_application_reach_the_topics_without_personal_data(app, kafka):
    async with running(app) as client:
        r = await client.post("/programmes", json=programme_body())
        assert r.status_code == 201
        programme_id = r.json()["programme_id"]
        r = await client.post("/applications", json=application_body(programme_id))
        assert r.status_code == 201, r.text
        application = r.json()
        assert application["status"] == "submitted"

        async def published():
            records = await read_topic(kafka, "parcours.applications")
            return [r for r in records if r.key == application["learner_id"].encode()]

        records = await eventually(published)
    assert len(records) == 1
    assert dict(records[0].headers)["event_type"] == b"application.submitted"
    event = events_of(records)[0]
    assert str(event.data.application_id) == application["application_id"]
    assert event.data.profile.age_band == "under_26"
    payload = records[0].value.decode()
    for personal in ("Ada", "Lovelace", "lovelace", "+33612345678"):
        assert personal not in payload


async def test_same_person_applying_twice_gets_the_first_application(app):
    async with running(app) as client:
        programme_id = (await client.post("/programmes", json=programme_body())).json()["programme_id"]
        first = await client.post("/applications", json=application_body(programme_id))
        again = await client.post("/applications", json=application_body(programme_id, "ada.lovelace@example.org"))
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["application_id"] == first.json()["application_id"]


async def test_capacity_is_enforced_and_decisions_follow_the_rules(app):
    async with running(app) as client:
        programme_id = (await client.post("/programmes", json=programme_body(capacity=1))).json()["programme_id"]
        a = (await client.post("/applications", json=application_body(programme_id, "a@example.org"))).json()
        b = (await client.post("/applications", json=application_body(programme_id, "b@example.org"))).json()
        admit = {"decision": "admitted", "decided_at": "2020-02-01T09:00:00Z"}
        r = await client.post(f"/applications/{a['application_id']}/decision", json=admit)
        assert r.status_code == 200 and r.json()["status"] == "admitted"
        r = await client.post(f"/applications/{b['application_id']}/decision", json=admit)
        assert r.status_code == 409 and r.json()["code"] == "capacity_reached"
        r = await client.post(f"/applications/{b['application_id']}/decision",
                              json={"decision": "rejected", "decided_at": "2020-02-01T09:00:00Z"})
        assert r.status_code == 422 and r.json()["code"] == "reason_required"
        r = await client.post(f"/applications/{b['application_id']}/decision",
                              json={"decision": "waitlisted", "decided_at": "2020-02-01T09:00:00Z"})
        assert r.json()["status"] == "waitlisted"
        # A withdrawal frees the place: the waitlisted candidate can now be admitted.
        r = await client.post(f"/applications/{a['application_id']}/decision",
                              json={"decision": "withdrawn", "decided_at": "2020-02-02T09:00:00Z"})
        assert r.json()["status"] == "withdrawn"
        r = await client.post(f"/applications/{b['application_id']}/decision", json=admit | {
            "decided_at": "2020-02-03T09:00:00Z"})
        assert r.status_code == 200 and r.json()["status"] == "admitted"
        r = await client.post(f"/applications/{a['application_id']}/decision", json=admit)
        assert r.status_code == 409 and r.json()["code"] == "invalid_transition"


async def test_bad_input_gets_a_4xx_naming_the_field(app):
    async with running(app) as client:
        r = await client.post("/programmes", json=programme_body(job_family="dev", surprise=1))
        assert r.status_code == 422
        fields = {e["field"] for e in r.json()["errors"]}
        assert {"job_family", "surprise"} <= fields
        r = await client.post("/applications", json=application_body(str(uuid.uuid4())))
        assert r.status_code == 422 and r.json()["code"] == "unknown_programme"
        programme_id = (await client.post("/programmes", json=programme_body())).json()["programme_id"]
        bad = application_body(programme_id)
        bad["submitted_at"] = "9999-01-01T00:00:00Z"
        bad["candidate"]["email"] = "not an email"
        r = await client.post("/applications", json=bad)
        assert r.status_code == 422
        assert {"submitted_at", "candidate.email"} <= {e["field"] for e in r.json()["errors"]}
        r = await client.post("/programmes", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 422


async def test_batch_gives_one_result_per_item(app):
    async with running(app) as client:
        programme_id = (await client.post("/programmes", json=programme_body())).json()["programme_id"]
        items = [application_body(programme_id, f"p{i}@example.org") for i in range(3)]
        items.append({"programme_id": programme_id})  # invalid
        items.append(application_body(programme_id, "p0@example.org"))  # same person again
        r = await client.post("/applications/batch", json={"items": items})
        assert r.status_code == 200
        results = r.json()["results"]
    assert [x["result"] for x in results] == ["created", "created", "created", "refused", "duplicate"]
    assert results[4]["application_id"] == results[0]["application_id"]
    assert r.json()["accepted"] == 4 and r.json()["refused"] == 1
    assert results[3]["errors"][0]["field"] == "submitted_at" or results[3]["errors"]


# Applications as (who, programme, session, first name), to the places of a catalogue_for_batches;
# `who` is the e-mail's local part, its case ignored.
APPLICATIONS = [
    ("fay", "P", None, "Fay"),  # applied before: the first application
    ("ada", "P", None, "Ada"),
    ("bob", "P", "S2", "Bob"),
    ("ADA", "P", "first", " Ada  Maria "),  # the same person, the same session named explicitly
    ("ada", "P", "S2", "Adeline"),  # the same person, another session: one learner, her first details
    ("carol", "unknown", None, "Carol"),
    ("dan", "Q", "S2", "Dan"),  # a session of another programme
    ("eve", "P", "unknown", "Eve"),
    ("bob", "P", "S2", "Robert"),
    ("carol", "P", None, "Caroline"),  # carol's first application that stands: her details
    ("fay", "P", None, "Fay"),
    ("dan", "P", "S2", "Dan"),
]


async def catalogue_for_batches(client, domain: str) -> dict:
    """A programme P with a second session S2, another programme Q, and fay's application to P."""
    p = (await client.post("/programmes", json=programme_body())).json()
    s2 = (await client.post(f"/programmes/{p['programme_id']}/sessions", json={
        "start_date": "2020-10-05", "end_date": "2021-05-05", "capacity": 20})).json()["session_id"]
    q = (await client.post("/programmes", json=programme_body())).json()["programme_id"]
    places = {"P": p["programme_id"], "Q": q, "S2": s2, "first": p["first_session_id"], "unknown": str(uuid.uuid4()),
              None: None, "domain": domain}
    assert (await client.post("/applications", json=applying(places, "fay", "P", None, "Fay"))).status_code == 201
    return places


def applying(places: dict, who: str, programme: str, session: str | None, first_name: str) -> dict:
    body = application_body(places[programme], f"{who}@{places['domain']}")
    body["candidate"]["first_name"] = first_name
    if session is not None:
        body["session_id"] = places[session]
    return body


def answers(results: list[dict]) -> list[tuple]:
    """Each result without its generated ids, which are numbered in order of appearance instead."""
    numbers: dict = {}

    def number(value):
        return None if value is None else numbers.setdefault(value, len(numbers))

    return [(r["result"], r.get("code"), r.get("status"), number(r.get("application_id")),
             number(r.get("learner_id"))) for r in results]


def as_batch_result(response) -> dict:
    """What POST /applications answered, as /applications/batch words it."""
    body = response.json()
    if response.status_code >= 400:
        return {"result": "refused", "code": body["code"]}
    return body | {"result": "created" if response.status_code == 201 else "duplicate"}


async def stored(pool, places: dict) -> dict:
    programmes = [places["P"], places["Q"]]
    candidates = await pool.fetch(
        "SELECT split_part(email, '@', 1) AS who, first_name, last_name, phone, birth_year, learner_id "
        "FROM candidates WHERE email LIKE $1 ORDER BY 1", "%@" + places["domain"])
    return {
        "candidates": [tuple(c)[:-1] for c in candidates],
        "applications": [tuple(a) for a in await pool.fetch(
            "SELECT split_part(c.email, '@', 1) AS who, a.session_id = $2 AS second, a.status, a.first_name "
            "FROM applications a JOIN candidates c USING (learner_id) WHERE a.programme_id = ANY($1::uuid[]) "
            "ORDER BY 1, 2", programmes, places["S2"])],
        "submissions": await pool.fetchval(
            "SELECT count(*) FROM application_transitions t JOIN applications a USING (application_id) "
            "WHERE a.programme_id = ANY($1::uuid[]) AND t.status = 'submitted'", programmes),
        "events": await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = 'application.submitted' AND key = ANY($1::bytea[])",
            [str(c["learner_id"]).encode() for c in candidates]),
    }


async def test_a_batch_means_what_the_same_applications_posted_one_by_one_mean(app):
    """The batch path is set-based (candidates, applications and events written once per batch);
    posting the same applications one request at a time must give the same answers and leave the
    same rows."""
    async with running(app) as client:
        singly = await catalogue_for_batches(client, "singly.example.org")
        batched = await catalogue_for_batches(client, "batched.example.org")
        singles = [await client.post("/applications", json=applying(singly, *a)) for a in APPLICATIONS]
        batch = await client.post("/applications/batch",
                                  json={"items": [applying(batched, *a) for a in APPLICATIONS]})
        pool = app.state.runtime.pool
        rows_singly, rows_batched = await stored(pool, singly), await stored(pool, batched)

    assert batch.status_code == 200
    got = answers(batch.json()["results"])
    assert got == answers([as_batch_result(r) for r in singles])
    assert [g[0] for g in got] == ["duplicate", "created", "created", "duplicate", "created", "refused", "refused",
                                   "refused", "duplicate", "created", "duplicate", "created"]
    assert {g[1] for g in got} == {None, "unknown_programme", "session_not_in_programme", "unknown_session"}
    assert rows_batched == rows_singly
    # One candidate per e-mail, holding no name: each application keeps the details it recorded.
    assert [c[:2] for c in rows_batched["candidates"]] == [("ada", ""), ("bob", ""), ("carol", ""), ("dan", ""),
                                                           ("fay", "")]
    assert [(a[0], a[1], a[3]) for a in rows_batched["applications"]] == [
        ("ada", False, "Ada"), ("ada", True, "Adeline"), ("bob", True, "Bob"), ("carol", False, "Caroline"),
        ("dan", True, "Dan"), ("fay", False, "Fay")]
    assert rows_batched["submissions"] == rows_batched["events"] == 6


@pytest.fixture
def keyed_app(new_database, kafka):
    return create_app(IntakeSettings(database_url=new_database("services.intake"), kafka_bootstrap_servers=kafka,
                                     relay_idle_seconds=0.02, auth_required=True))


async def test_a_batch_refuses_the_programmes_out_of_a_centres_reach(keyed_app):
    """Each item is checked as POST /applications checks it: another centre's programme, or an
    unknown one, is forbidden to a centre's key, and leaves nothing behind."""
    app = keyed_app
    centre, other_centre = uuid.uuid4(), uuid.uuid4()
    async with running(app) as client:
        pool = app.state.runtime.pool
        tokens = {}
        for name, role, centre_id in (("admin", "admin", None), ("centre", "centre", centre)):
            tokens[name] = auth.new_token()
            await auth.store_key(pool, uuid.uuid4(), name, role, centre_id, auth.hash_token(tokens[name]), None)
        admin, mine = ({"Authorization": f"Bearer {tokens[name]}"} for name in ("admin", "centre"))
        own = (await client.post("/programmes", json=programme_body(centre_id=str(centre)),
                                 headers=admin)).json()["programme_id"]
        foreign = (await client.post("/programmes", json=programme_body(centre_id=str(other_centre)),
                                     headers=admin)).json()["programme_id"]
        items = [application_body(own, "a@example.org"), application_body(foreign, "b@example.org"),
                 application_body(str(uuid.uuid4()), "c@example.org"), application_body(own, "a@example.org"),
                 application_body(foreign, "a@example.org")]
        r = await client.post("/applications/batch", json={"items": items}, headers=mine)
        applications = await pool.fetchval("SELECT count(*) FROM applications")
        candidates = await pool.fetch("SELECT email FROM candidates")

    assert r.status_code == 200
    assert [(x["result"], x.get("code")) for x in r.json()["results"]] == [
        ("created", None), ("refused", "forbidden"), ("refused", "forbidden"), ("duplicate", None),
        ("refused", "forbidden")]
    assert applications == 1 and [c["email"] for c in candidates] == ["a@example.org"]


# Decisions as (who, decision, day in 2020, reason), on a world_for_decisions: its first session has 2
# places (a admitted and w waitlisted on 18 January before the batch), its second session 1 (g2, h2).
DECISIONS = [
    ("b", "screened", "01-21", None),
    ("b", "admitted", "01-22", None),  # the last place
    ("c", "admitted", "01-22", None),  # full
    ("c", "waitlisted", "01-23", None),
    ("d", "waitlisted", "01-19", None),  # waitlisted after c, but dated before it
    ("i", "waitlisted", "01-17", None),  # the earliest of all...
    ("c", "waitlisted", "01-24", None),  # unchanged
    ("e", "rejected", "01-24", None),  # a rejection needs a reason
    ("e", "rejected", "01-24", "not_eligible"),
    ("e", "rejected", "01-25", None),  # unchanged, reason or not
    ("e", "admitted", "01-25", None),  # rejected is final
    ("i", "withdrawn", "01-30", None),  # ...who leaves the waitlist: frees no place
    ("a", "withdrawn", "02-01", None),  # frees a place: w, waitlisted before the batch, takes it
    ("w", "admitted", "02-02", None),  # unchanged: admitted by the waitlist
    ("b", "no_show", "03-09", None),  # d takes the place
    ("w", "withdrawn", "03-10", None),  # c takes the place
    ("a", "withdrawn", "03-11", None),  # unchanged: promotes nobody
    ("f", "admitted", "03-11", None),  # full again
    ("unknown", "admitted", "02-01", None),
    ("f", "screened", "01-01", None),  # before the application was submitted
    ("g2", "admitted", "02-01", None),  # the other session's only place
    ("h2", "admitted", "02-01", None),  # full
    ("h2", "waitlisted", "02-05", None),
    ("g2", "no_show", "02-03", None),  # h2 takes the place when it was waitlisted, not before
    ("c", "no_show", "03-12", None),  # nobody waiting: the place stays free...
    ("f", "admitted", "03-12", None),  # ...for f
    ("g", "withdrawn", "01-20", None),  # never admitted: frees no place
    ("d", "screened", "03-13", None),  # admitted cannot go back
    ("f", "no_show", "03-14", None),  # nobody waiting
]


def decided_on(day: str) -> str:
    return f"2020-{day}T09:00:00+01:00"


async def world_for_decisions(client, domain: str) -> dict:
    """who -> application_id: a programme with 2 places in its first session and 1 in another."""
    programme = (await client.post("/programmes", json=programme_body(capacity=2))).json()["programme_id"]
    second = (await client.post(f"/programmes/{programme}/sessions", json={
        "start_date": "2020-10-05", "end_date": "2021-05-05", "capacity": 1})).json()["session_id"]
    world = {"unknown": str(uuid.uuid4())}
    for who in ("a", "b", "c", "d", "e", "f", "g", "i", "w", "g2", "h2"):
        body = application_body(programme, f"{who}@{domain}")
        if who.endswith("2"):
            body["session_id"] = second
        world[who] = (await client.post("/applications", json=body)).json()["application_id"]
    for who, decision, day in (("a", "admitted", "01-20"), ("w", "waitlisted", "01-18")):
        r = await client.post(f"/applications/{world[who]}/decision",
                              json={"decision": decision, "decided_at": decided_on(day)})
        assert r.status_code == 200
    return world


def deciding(world: dict, who: str, decision: str, day: str, reason: str | None) -> dict:
    return {"application_id": world[who], "decision": decision, "decided_at": decided_on(day)} | (
        {"reason": reason} if reason else {})


def as_decision_result(response) -> dict:
    """What POST /applications/{id}/decision answered, as /decisions/batch words it (but for
    applied or unchanged, which it does not say)."""
    body = response.json()
    if response.status_code >= 400:
        return {"result": "refused", "code": body["code"]}
    return body | {"result": "decided"}


def decision_answers(results: list[dict], world: dict) -> list[tuple]:
    """Each result with its applications named (who) instead of their ids."""
    names = {application_id: who for who, application_id in world.items()}
    return [(r["result"] == "refused", r.get("code"), r.get("status"), names.get(r.get("application_id")),
             names.get(r.get("promoted_application_id"))) for r in results]


async def decisions_stored(pool, world: dict) -> dict:
    """The world's applications, transitions (in order) and events (in order), named by who."""
    names = {uuid.UUID(application_id): who for who, application_id in world.items()}
    ids = list(names)
    applications = await pool.fetch(
        "SELECT application_id, status, reason, decided_at FROM applications WHERE application_id = ANY($1::uuid[])",
        ids)
    transitions = await pool.fetch(
        "SELECT application_id, status, reason, occurred_at, actor FROM application_transitions"
        " WHERE application_id = ANY($1::uuid[]) ORDER BY id", ids)
    events = await pool.fetch(
        "SELECT event_type, (p -> 'data' ->> 'application_id')::uuid AS application_id,"
        " p -> 'data' ->> 'decision' AS decision, p -> 'data' ->> 'reason' AS reason,"
        " p ->> 'occurred_at' AS occurred_at"
        " FROM (SELECT id, event_type, convert_from(payload, 'UTF8')::jsonb AS p FROM outbox) o"
        " WHERE (p -> 'data' ->> 'application_id')::uuid = ANY($1::uuid[]) ORDER BY id", ids)
    return {
        "applications": sorted((names[a["application_id"]], *tuple(a)[1:]) for a in applications),
        "transitions": [(names[t["application_id"]], *tuple(t)[1:]) for t in transitions],
        "events": [(names[e["application_id"]], e["event_type"], *tuple(e)[2:]) for e in events],
    }


async def test_a_batch_of_decisions_means_what_the_same_decisions_posted_one_by_one_mean(app):
    """The batch path is set-based (applications locked, counts and waitlists read, and statuses,
    transitions and events written once per batch): posting the same decisions one request at a
    time must give the same answers and leave the same rows, places taken and freed and waitlisted
    candidates promoted included."""
    actor = {"X-Actor": "staff:lille-7"}
    async with running(app) as client:
        singly = await world_for_decisions(client, "singly.example.org")
        batched = await world_for_decisions(client, "batched.example.org")
        singles = []
        for who, decision, day, reason in DECISIONS:
            body = deciding(singly, who, decision, day, reason)
            singles.append(await client.post(f"/applications/{body.pop('application_id')}/decision", json=body,
                                             headers=actor))
        batch = await client.post("/decisions/batch", headers=actor,
                                  json={"items": [deciding(batched, *d) for d in DECISIONS]})
        pool = app.state.runtime.pool
        rows_singly, rows_batched = await decisions_stored(pool, singly), await decisions_stored(pool, batched)

    assert batch.status_code == 200
    results = batch.json()["results"]
    got = decision_answers(results, batched)
    assert got == decision_answers([as_decision_result(r) for r in singles], singly)
    assert [(r["result"], r.get("code")) for r in results] == [
        ("applied", None), ("applied", None), ("refused", "capacity_reached"), ("applied", None),
        ("applied", None), ("applied", None), ("unchanged", None), ("refused", "reason_required"),
        ("applied", None), ("unchanged", None), ("refused", "invalid_transition"), ("applied", None),
        ("applied", None), ("unchanged", None), ("applied", None), ("applied", None), ("unchanged", None),
        ("refused", "capacity_reached"), ("refused", "not_found"), ("refused", "decided_before_submission"),
        ("applied", None), ("refused", "capacity_reached"), ("applied", None), ("applied", None),
        ("applied", None), ("applied", None), ("applied", None), ("refused", "invalid_transition"),
        ("applied", None)]
    assert [(who, g[4]) for (who, *_), g in zip(DECISIONS, got, strict=True) if g[4]] == [
        ("a", "w"), ("b", "d"), ("w", "c"), ("g2", "h2")]
    assert rows_batched == rows_singly
    statuses = {who: status for who, status, *_ in rows_batched["applications"]}
    assert statuses == {"a": "withdrawn", "b": "no_show", "c": "no_show", "d": "admitted", "e": "rejected",
                        "f": "no_show", "g": "withdrawn", "i": "withdrawn", "w": "withdrawn", "g2": "no_show",
                        "h2": "admitted"}
    promoted = [t for t in rows_batched["transitions"] if t[4] == "waitlist"]
    assert [(t[0], t[3].date().isoformat()) for t in promoted] == [
        ("w", "2020-02-01"), ("d", "2020-03-09"), ("c", "2020-03-10"), ("h2", "2020-02-05")]
    assert len(rows_batched["transitions"]) == 11 + 2 + 17 + 4  # submitted, before, applied, promoted
    kinds = [e[1] for e in rows_batched["events"]]
    # Screening is not published.
    assert (kinds.count("application.submitted"), kinds.count("application.decided")) == (11, 2 + 16 + 4)


async def test_a_batch_of_decisions_refuses_the_applications_out_of_a_centres_reach(keyed_app):
    """Each decision is checked as POST /applications/{id}/decision checks it: another centre's
    application, or an unknown one, is forbidden to a centre's key, and changes nothing."""
    app = keyed_app
    centre, other_centre = uuid.uuid4(), uuid.uuid4()
    async with running(app) as client:
        pool = app.state.runtime.pool
        tokens = {}
        for name, role, centre_id in (("admin", "admin", None), ("centre", "centre", centre)):
            tokens[name] = auth.new_token()
            await auth.store_key(pool, uuid.uuid4(), name, role, centre_id, auth.hash_token(tokens[name]), None)
        admin, mine = ({"Authorization": f"Bearer {tokens[name]}"} for name in ("admin", "centre"))
        applications = []
        for centre_id in (centre, other_centre):
            programme = (await client.post("/programmes", json=programme_body(capacity=1, centre_id=str(centre_id)),
                                           headers=admin)).json()["programme_id"]
            r = await client.post("/applications", json=application_body(programme, f"{centre_id}@example.org"),
                                  headers=admin)
            applications.append(r.json()["application_id"])
        own, foreign = applications
        admit = {"decision": "admitted", "decided_at": "2020-02-01T09:00:00Z"}
        items = [{"application_id": own} | admit, {"application_id": foreign} | admit,
                 {"application_id": str(uuid.uuid4())} | admit, {"application_id": own} | admit]
        r = await client.post("/decisions/batch", json={"items": items}, headers=mine)
        statuses = {str(a["application_id"]): a["status"] for a in await pool.fetch(
            "SELECT application_id, status FROM applications")}

    assert r.status_code == 200
    assert [(x["result"], x.get("code")) for x in r.json()["results"]] == [
        ("applied", None), ("refused", "forbidden"), ("refused", "forbidden"), ("unchanged", None)]
    assert statuses == {own: "admitted", foreign: "submitted"}


async def test_database_unavailable_answers_503_with_retry_after(app):
    async with running(app) as client:
        runtime = app.state.runtime
        healthy = runtime.pool
        runtime.pool = await create_pool("postgresql://postgres@127.0.0.1:1/nowhere", 1)
        try:
            r = await client.post("/programmes", json=programme_body())
            ready = await client.get("/health/ready")
        finally:
            await runtime.pool.close()
            runtime.pool = healthy
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert ready.status_code == 503 and ready.json()["database"] is False

        async def ready_again():  # the database back, and the consumers (started in the background) assigned
            return (await client.get("/health/ready")).status_code == 200
        assert await eventually(ready_again)


async def test_no_decision_contradicts_a_started_training(app, kafka):
    """Intake learns of starts from the training topic: after one, the admission can be neither
    withdrawn nor a no-show (only the centre's exit ends the journey); a correction that voids the
    start gives that back."""
    async with running(app) as client:
        programme_id = (await client.post("/programmes", json=programme_body())).json()["programme_id"]
        a = (await client.post("/applications", json=application_body(programme_id, "a@example.org"))).json()
        url = f"/applications/{a['application_id']}/decision"
        r = await client.post(url, json={"decision": "admitted", "decided_at": "2020-02-01T09:00:00Z"})
        assert r.status_code == 200, r.text
        learner, programme = uuid.UUID(a["learner_id"]), uuid.UUID(programme_id)
        await publish(kafka, [f.started(learner, programme, at="2020-03-02T08:30:00+01:00")])

        async def started():
            return (await client.get(f"/applications/{a['application_id']}")).json()["started_at"]
        assert await eventually(started) == "2020-03-02T07:30:00Z"
        refused = await client.post(url, json={"decision": "withdrawn", "decided_at": "2020-03-10T09:00:00Z"})
        no_show = await client.post(url, json={"decision": "no_show", "decided_at": "2020-03-10T09:00:00Z"})
        batch = await client.post("/decisions/batch", json={"items": [
            {"application_id": a["application_id"], "decision": "withdrawn", "decided_at": "2020-03-10T09:00:00Z"}]})
        status = (await client.get(f"/applications/{a['application_id']}")).json()["status"]

        await publish(kafka, [f.corrected(learner, programme, state="admitted", started_at=None)])

        async def voided():
            return (await client.get(f"/applications/{a['application_id']}")).json()["started_at"] is None
        await eventually(voided)
        after_void = await client.post(url, json={"decision": "no_show", "decided_at": "2020-03-10T09:00:00Z"})
    assert refused.status_code == 409
    assert refused.json()["code"] == "training_started" and refused.json()["field"] == "decision"
    assert "started on 2020-03-02" in refused.json()["detail"]
    assert no_show.status_code == 409 and no_show.json()["code"] == "training_started"
    assert batch.json()["results"][0]["code"] == "training_started"
    assert status == "admitted"
    assert after_void.json()["status"] == "no_show"


@pytest.fixture
def without_broker(new_database):
    """Intake pointed at a port where no broker answers yet: (app, port)."""
    port = free_port()
    return create_app(IntakeSettings(database_url=new_database("services.intake"),
                                     kafka_bootstrap_servers=f"127.0.0.1:{port}", relay_idle_seconds=0.02)), port


async def test_a_service_started_without_its_broker_serves_at_once_and_joins_when_it_comes(without_broker, tmp_path):
    """Restarted while Kafka is unreachable, a service accepts its own writes (into its outbox) at
    once, says it is not ready (no consumer), and publishes and consumes once the broker answers."""
    app, port = without_broker
    broker = EmbeddedBroker(port, tmp_path / "kafka.log")
    try:
        async with running(app) as client:
            created = await client.post("/programmes", json=programme_body())
            not_ready = await client.get("/health/ready")
            await asyncio.to_thread(broker.start)

            async def ready():
                return (await client.get("/health/ready")).status_code == 200
            await eventually(ready, timeout=60)

            async def published():
                records = await read_topic(broker.bootstrap, "parcours.programmes")
                return [r for r in records if r.key == created.json()["programme_id"].encode()]
            records = await eventually(published)
    finally:
        broker.stop()
    assert created.status_code == 201
    assert not_ready.status_code == 503 and not_ready.json()["database"] is True
    assert not_ready.json()["consumers_assigned"] is False
    assert {dict(r.headers)["event_type"] for r in records} >= {b"programme.registered"}
