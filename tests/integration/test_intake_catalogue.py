"""Intake's catalogue, sessions, waitlist and listings, against a real PostgreSQL and broker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import asyncpg
import pytest

from services.intake.app import create_app
from services.intake.config import IntakeSettings
from shared.plumbing.db import PLUMBING_PACKAGE, dsn_for_database, ensure_database, migrate, migration_files
from tests.integration.helpers import events_of, eventually, read_topic, running

pytestmark = pytest.mark.integration

CENTRE = {"name": "Centre de Lille", "siret": "73282932000074",
          "address": {"street": "12 rue de Paris", "postcode": "59000", "city": "Lille"},
          "region": "32", "departement": "59"}


def programme_body(capacity: int = 20, **over) -> dict:
    body = {"centre_id": str(uuid.uuid4()), "centre_name": "Centre de Lille", "title": "Développeur web",
            "region": "32", "job_family": "M1805", "duration_months": 7, "capacity": capacity,
            "start_date": "2020-03-02"}
    return body | over


def application_body(programme_id: str, email: str, session_id: str | None = None,
                     submitted_at: str = "2020-01-15T10:00:00+01:00", name: str = "Ada") -> dict:
    body = {"programme_id": programme_id, "submitted_at": submitted_at,
            "candidate": {"first_name": name, "last_name": "Lovelace", "email": email,
                          "phone": "06 12 34 56 78", "birth_year": 1998, "gender": "female",
                          "education_level": "4", "qpv": True, "zrr": False, "job_seeker": True,
                          "region": "32"}}
    if session_id:
        body["session_id"] = session_id
    return body


def decision(kind: str, day: str, reason: str | None = None) -> dict:
    return {"decision": kind, "decided_at": f"{day}T09:00:00+01:00"} | ({"reason": reason} if reason else {})


def fields(response) -> set[str]:
    return {e["field"] for e in response.json()["errors"]}


@pytest.fixture
def app(new_database, kafka):
    return create_app(IntakeSettings(database_url=new_database("services.intake"),
                                     kafka_bootstrap_servers=kafka, relay_idle_seconds=0.02))


async def test_centre_then_programme_then_sessions(app, kafka):
    async with running(app) as client:
        r = await client.post("/centres", json=CENTRE | {"siret": "73282932000075"})
        assert r.status_code == 422 and fields(r) == {"siret"}
        r = await client.post("/centres", json=CENTRE | {"departement": "69"})
        assert r.status_code == 422 and fields(r) == {"departement"}
        assert "region 84" in r.json()["errors"][0]["message"]
        r = await client.post("/centres", json=CENTRE | {"region": "31", "departement": "2C"})
        assert r.status_code == 422 and fields(r) == {"region", "departement"}

        r = await client.post("/centres", json=CENTRE)
        assert r.status_code == 201, r.text
        centre = r.json()
        centre_id = centre["centre_id"]
        assert centre["address"] == CENTRE["address"] and centre["siret"] == "73282932000074"
        again = await client.post("/centres", json=CENTRE | {"siret": "732 829 320 00074"})
        assert again.status_code == 200 and again.json()["centre_id"] == centre_id
        r = await client.post("/centres", json=CENTRE | {"centre_id": str(uuid.uuid4())})
        assert r.status_code == 409 and r.json()["code"] == "siret_taken" and r.json()["field"] == "siret"
        assert (await client.get(f"/centres/{centre_id}")).json()["name"] == "Centre de Lille"
        assert (await client.get(f"/centres/{uuid.uuid4()}")).status_code == 404
        listed = (await client.get("/centres", params={"region": "32"})).json()
        assert listed["total"] == 1 and listed["items"][0]["centre_id"] == centre_id
        assert (await client.get("/centres", params={"region": "11"})).json()["total"] == 0

        # A registered centre: its name and place are the defaults; a different name is refused.
        minimal = {k: v for k, v in programme_body(centre_id=centre_id).items() if k not in ("centre_name", "region")}
        r = await client.post("/programmes", json=minimal | {"rncp": "RNCP37674", "mode": "hybrid",
                                                             "label_year": 2020})
        assert r.status_code == 201, r.text
        programme = r.json()
        programme_id = programme["programme_id"]
        assert (programme["centre_name"], programme["region"], programme["departement"]) == ("Centre de Lille",
                                                                                              "32", "59")
        assert (programme["rncp"], programme["mode"], programme["label_year"]) == ("RNCP37674", "hybrid", 2020)
        first = str(uuid.uuid5(uuid.UUID(programme_id), "first-session"))
        assert programme["first_session_id"] == first
        r = await client.post("/programmes", json=programme_body(centre_id=centre_id, centre_name="Centre de Lyon"))
        assert r.status_code == 422 and r.json()["code"] == "centre_name_mismatch"
        assert r.json()["field"] == "centre_name"
        r = await client.post("/programmes", json=minimal | {"region": "32", "departement": "75"})
        assert r.status_code == 422 and fields(r) == {"departement"}
        r = await client.post("/programmes", json={**minimal, "centre_id": str(uuid.uuid4())})
        assert r.status_code == 422 and r.json()["field"] == "centre_name"
        r = await client.post("/programmes", json=programme_body(job_family="M18", rncp="RNCP1", label_year=2014,
                                                                 start_date="1999-01-01", mode="online"))
        assert r.status_code == 422
        assert fields(r) == {"job_family", "rncp", "label_year", "start_date", "mode"}

        # More sessions.
        session = {"start_date": "2020-10-05", "end_date": "2021-05-05", "capacity": 12}
        r = await client.post(f"/programmes/{programme_id}/sessions", json=session)
        assert r.status_code == 201, r.text
        second = r.json()
        assert second["admitted"] == 0 and second["capacity"] == 12
        sessions_url = f"/programmes/{programme_id}/sessions"
        r = await client.post(sessions_url, json=session | {"session_id": second["session_id"]})
        assert r.status_code == 200 and r.json()["session_id"] == second["session_id"]
        r = await client.post(f"/programmes/{uuid.uuid4()}/sessions", json=session)
        assert r.status_code == 404
        r = await client.post(f"/programmes/{programme_id}/sessions", json=session | {"end_date": "2020-10-05"})
        assert r.status_code == 422 and fields(r) == {"end_date"}
        other = (await client.post("/programmes", json=programme_body())).json()["programme_id"]
        r = await client.post(f"/programmes/{other}/sessions", json=session | {"session_id": second["session_id"]})
        assert r.status_code == 409 and r.json()["code"] == "session_id_taken"

        sessions = (await client.get("/sessions", params={"programme_id": programme_id})).json()
        assert [s["session_id"] for s in sessions["items"]] == [first, second["session_id"]]
        assert sessions["items"][0]["end_date"] == "2020-10-02"  # start + 7 months
        assert (await client.get("/sessions", params={"centre_id": centre_id})).json()["total"] == 2
        detail = (await client.get(f"/programmes/{programme_id}")).json()
        assert [s["session_id"] for s in detail["sessions"]] == [first, second["session_id"]]
        assert (await client.get(f"/sessions/{first}")).json()["capacity"] == 20

        async def published():
            records = [r for r in await read_topic(kafka, "parcours.programmes") if r.key == programme_id.encode()]
            return records if len(records) == 3 else None

        records = await eventually(published)
    events = events_of(records)
    assert [e.event_type for e in events] == ["programme.registered", "session.scheduled", "session.scheduled"]
    registered, scheduled_first, scheduled_second = events
    assert registered.data.capacity == 20 and registered.data.start_date == date(2020, 3, 2)
    assert registered.data.centre_name == "Centre de Lille" and registered.data.region == "32"
    assert str(scheduled_first.data.session_id) == first and scheduled_first.data.end_date == date(2020, 10, 2)
    assert str(scheduled_second.data.session_id) == second["session_id"] and scheduled_second.data.capacity == 12


async def test_applications_belong_to_a_session_with_its_own_capacity(app, kafka):
    async with running(app) as client:
        programme = (await client.post("/programmes", json=programme_body(capacity=1))).json()
        programme_id, first = programme["programme_id"], programme["first_session_id"]
        second = (await client.post(f"/programmes/{programme_id}/sessions", json={
            "start_date": "2020-10-05", "end_date": "2021-05-05", "capacity": 2})).json()["session_id"]

        a1 = await client.post("/applications", json=application_body(programme_id, "a@example.org"))
        assert a1.status_code == 201 and a1.json()["session_id"] == first
        again = await client.post("/applications", json=application_body(programme_id, "A@example.org ", first))
        assert again.status_code == 200 and again.json()["application_id"] == a1.json()["application_id"]
        a2 = await client.post("/applications", json=application_body(programme_id, "a@example.org", second))
        assert a2.status_code == 201 and a2.json()["session_id"] == second
        assert a2.json()["application_id"] != a1.json()["application_id"]
        assert a2.json()["learner_id"] == a1.json()["learner_id"]
        b1 = (await client.post("/applications", json=application_body(programme_id, "b@example.org"))).json()
        b2 = (await client.post("/applications", json=application_body(programme_id, "b@example.org", second))).json()

        other = (await client.post("/programmes", json=programme_body())).json()["programme_id"]
        r = await client.post("/applications", json=application_body(other, "c@example.org", second))
        assert r.status_code == 422 and r.json()["code"] == "session_not_in_programme"
        assert r.json()["field"] == "session_id"
        r = await client.post("/applications", json=application_body(other, "c@example.org", str(uuid.uuid4())))
        assert r.status_code == 422 and r.json()["code"] == "unknown_session"

        admit = decision("admitted", "2020-02-01")
        r = await client.post(f"/applications/{a1.json()['application_id']}/decision", json=admit)
        assert r.status_code == 200
        r = await client.post(f"/applications/{b1['application_id']}/decision", json=admit)
        assert r.status_code == 409 and r.json()["code"] == "capacity_reached"
        for application in (a2.json(), b2):
            r = await client.post(f"/applications/{application['application_id']}/decision", json=admit)
            assert r.status_code == 200 and r.json()["status"] == "admitted"
        counts = {s["session_id"]: s["admitted"] for s in
                  (await client.get("/sessions", params={"programme_id": programme_id})).json()["items"]}
        assert counts == {first: 1, second: 2}

        async def submitted():
            records = await read_topic(kafka, "parcours.applications")
            mine = [e for e in events_of(r for r in records if r.key == a1.json()["learner_id"].encode())
                    if e.event_type == "application.submitted"]
            return mine if len(mine) == 2 else None

        events = await eventually(submitted)
    assert {str(e.data.session_id) for e in events} == {first, second}


async def test_screening_and_the_actor_of_every_transition(app, kafka):
    async with running(app) as client:
        programme_id = (await client.post("/programmes", json=programme_body())).json()["programme_id"]
        r = await client.post("/applications", json=application_body(programme_id, "s@example.org"),
                              headers={"X-Actor": "portal"})
        application = r.json()
        url = f"/applications/{application['application_id']}/decision"
        r = await client.post(url, json=decision("screened", "2020-01-20"), headers={"X-Actor": "staff:lille-1"})
        assert r.status_code == 200 and r.json()["status"] == "screened"
        r = await client.post(url, json=decision("screened", "2020-01-21"), headers={"X-Actor": "staff:lille-1"})
        assert r.status_code == 200 and r.json()["decided_at"].startswith("2020-01-20")  # unchanged
        r = await client.post(url, json=decision("no_show", "2020-01-22"))
        assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
        r = await client.post(url, json=decision("rejected", "2020-01-22"))
        assert r.status_code == 422 and r.json()["field"] == "reason"
        r = await client.post(url, json=decision("admitted", "2020-01-10"))
        assert r.status_code == 422 and r.json()["code"] == "decided_before_submission"
        r = await client.post(url, json=decision("admitted", "2020-02-01"), headers={"X-Actor": "x" * 101})
        assert r.status_code == 422 and any("X-Actor" in f for f in fields(r))
        r = await client.post("/decisions/batch", json={"items": [
            {"application_id": application["application_id"]} | decision("admitted", "2020-02-01")]},
            headers={"X-Actor": "staff:lille-2"})
        assert r.json()["results"][0]["result"] == "applied"
        r = await client.post(url, json=decision("no_show", "2020-03-09"))
        assert r.json()["status"] == "no_show"

        transitions = (await client.get(f"/applications/{application['application_id']}/transitions")).json()
        assert [(t["status"], t["actor"]) for t in transitions] == [
            ("submitted", "portal"), ("screened", "staff:lille-1"), ("admitted", "staff:lille-2"),
            ("no_show", "api")]
        assert (await client.get(f"/applications/{uuid.uuid4()}/transitions")).status_code == 404

        async def decided():
            records = await read_topic(kafka, "parcours.applications")
            mine = [r for r in records if r.key == application["learner_id"].encode()]
            return mine if len(mine) == 3 else None

        records = await eventually(decided)
    # Screening stays inside intake; decisions leave as application.decided v2.
    events = events_of(records)
    assert [e.event_type for e in events] == ["application.submitted", "application.decided",
                                              "application.decided"]
    assert [dict(r.headers)["schema_version"] for r in records[1:]] == [b"2", b"2"]
    assert [(e.schema_version, e.data.decision) for e in events[1:]] == [(2, "admitted"), (2, "no_show")]
    assert str(events[0].data.session_id) == str(events[2].data.session_id)


async def test_withdrawal_and_no_show_give_the_place_to_the_first_waitlisted(app, kafka):
    async with running(app) as client:
        programme_id = (await client.post("/programmes", json=programme_body(capacity=2))).json()["programme_id"]
        apps = {}
        for name in ("a", "b", "c", "d", "e"):
            r = await client.post("/applications", json=application_body(programme_id, f"{name}@example.org"))
            apps[name] = r.json()

        def url(name: str) -> str:
            return f"/applications/{apps[name]['application_id']}/decision"

        for name, kind, day in [("a", "admitted", "2020-02-01"), ("b", "admitted", "2020-02-01"),
                                ("c", "waitlisted", "2020-02-05"), ("d", "waitlisted", "2020-02-03"),
                                ("e", "waitlisted", "2020-02-07")]:
            assert (await client.post(url(name), json=decision(kind, day))).json()["status"] == kind

        # d was waitlisted first (c applied before it, but was waitlisted later).
        r = await client.post(url("a"), json=decision("withdrawn", "2020-02-10"))
        assert r.status_code == 200 and r.json()["status"] == "withdrawn"
        assert r.json()["promoted_application_id"] == apps["d"]["application_id"]
        d = (await client.get(f"/applications/{apps['d']['application_id']}")).json()
        assert d["status"] == "admitted" and d["decided_at"].startswith("2020-02-10")
        transitions = (await client.get(f"/applications/{apps['d']['application_id']}/transitions")).json()
        assert (transitions[-1]["status"], transitions[-1]["actor"]) == ("admitted", "waitlist")

        # Repeating the withdrawal changes nothing and promotes nobody.
        r = await client.post(url("a"), json=decision("withdrawn", "2020-02-11"))
        assert r.status_code == 200 and r.json()["promoted_application_id"] is None
        r = await client.post(url("e"), json=decision("admitted", "2020-02-12"))
        assert r.status_code == 409 and r.json()["code"] == "capacity_reached"

        r = await client.post(url("b"), json=decision("no_show", "2020-03-09"))
        assert r.json()["status"] == "no_show" and r.json()["promoted_application_id"] == apps["c"]["application_id"]

        # Through the batch: the last waitlisted takes d's place.
        r = await client.post("/decisions/batch", json={"items": [
            {"application_id": apps["d"]["application_id"]} | decision("withdrawn", "2020-03-10")]})
        result = r.json()["results"][0]
        assert result["result"] == "applied" and result["promoted_application_id"] == apps["e"]["application_id"]
        statuses = {n: (await client.get(f"/applications/{a['application_id']}")).json()["status"]
                    for n, a in apps.items()}
        assert statuses == {"a": "withdrawn", "b": "no_show", "c": "admitted", "d": "withdrawn", "e": "admitted"}

        # Nobody waitlisted: a freed place stays free.
        r = await client.post(url("c"), json=decision("withdrawn", "2020-03-11"))
        assert r.json()["promoted_application_id"] is None

        learners = {a["learner_id"].encode(): n for n, a in apps.items()}

        async def decided():
            records = [r for r in await read_topic(kafka, "parcours.applications")
                       if r.key in learners and dict(r.headers)["event_type"] == b"application.decided"]
            return records if len(records) == 12 else None

        records = await eventually(decided)
    assert {dict(r.headers)["schema_version"] for r in records} == {b"2"}
    by_learner: dict[str, list] = {}
    for record, event in zip(records, events_of(records), strict=True):
        by_learner.setdefault(learners[record.key], []).append(event)
    assert [e.data.decision for e in by_learner["d"]] == ["waitlisted", "admitted", "withdrawn"]
    promoted = by_learner["d"][1]
    assert promoted.schema_version == 2 and str(promoted.data.application_id) == apps["d"]["application_id"]
    assert promoted.data.session_id is not None and promoted.occurred_at.date() == date(2020, 2, 10)
    assert [e.data.decision for e in by_learner["c"]] == ["waitlisted", "admitted", "withdrawn"]
    assert [e.data.decision for e in by_learner["e"]] == ["waitlisted", "admitted"]
    assert [e.data.decision for e in by_learner["b"]] == ["admitted", "no_show"]


async def test_listing_filters_and_pages_without_personal_data(app):
    async with running(app) as client:
        lille = (await client.post("/centres", json=CENTRE)).json()["centre_id"]
        p1 = (await client.post("/programmes", json=programme_body(centre_id=lille, centre_name=None))).json()
        second = (await client.post(f"/programmes/{p1['programme_id']}/sessions", json={
            "start_date": "2020-10-05", "end_date": "2021-05-05", "capacity": 2})).json()["session_id"]
        p2 = (await client.post("/programmes", json=programme_body())).json()
        people = [
            (p1["programme_id"], None, "2020-01-14T23:30:00Z", "Alice"),  # 15 January in Paris
            (p1["programme_id"], None, "2020-01-20T10:00:00+01:00", "Bruno"),
            (p1["programme_id"], second, "2020-02-03T10:00:00+01:00", "Chloé"),
            (p1["programme_id"], second, "2020-02-04T10:00:00+01:00", "Damien"),
            (p2["programme_id"], None, "2020-01-16T10:00:00+01:00", "Émile"),
        ]
        ids = []
        for i, (programme_id, session_id, at, name) in enumerate(people):
            r = await client.post("/applications", json=application_body(
                programme_id, f"person{i}@example.org", session_id, at, name))
            ids.append(r.json()["application_id"])
        await client.post(f"/applications/{ids[1]}/decision", json=decision("admitted", "2020-02-01"))
        await client.post(f"/applications/{ids[2]}/decision", json=decision("rejected", "2020-02-05", "not_eligible"))

        async def listed(**params) -> list[str]:
            r = await client.get("/applications", params=params)
            assert r.status_code == 200, r.text
            return [a["application_id"] for a in r.json()["items"]]

        assert await listed() == [ids[0], ids[4], ids[1], ids[2], ids[3]]
        assert await listed(programme_id=p1["programme_id"]) == ids[:4]
        assert await listed(session_id=second) == ids[2:4]
        assert await listed(session_id=p1["first_session_id"]) == ids[:2]
        assert await listed(centre_id=lille) == ids[:4]
        assert await listed(status="admitted") == [ids[1]]
        assert await listed(status="rejected", centre_id=lille) == [ids[2]]
        assert await listed(submitted_from="2020-01-15", submitted_to="2020-01-16") == [ids[0], ids[4]]
        assert await listed(submitted_to="2020-01-14") == []
        assert await listed(submitted_from="2020-02-04") == [ids[3]]

        pages = [await client.get("/applications", params={"limit": 2, "offset": offset}) for offset in (0, 2, 4)]
        assert [p.json()["total"] for p in pages] == [5, 5, 5]
        assert sum((p.json()["items"] for p in pages), []) == (await client.get("/applications")).json()["items"]
        assert [len(p.json()["items"]) for p in pages] == [2, 2, 1]

        r = await client.get("/applications", params={"status": "pending", "limit": 0, "submitted_from": "x"})
        assert r.status_code == 422 and {"query.status", "query.limit", "query.submitted_from"} <= fields(r)
        r = await client.get("/applications", params={"submitted_from": "2020-02-01", "submitted_to": "2020-01-01"})
        assert r.status_code == 422 and fields(r) == {"query.submitted_to"}

        texts = [(await client.get("/applications", params=p)).text
                 for p in ({}, {"centre_id": lille}, {"session_id": second}, {"status": "admitted"})]
        texts.append((await client.get(f"/applications/{ids[0]}")).text)
    for text in texts:
        for personal in ("Alice", "Bruno", "Chlo", "Damien", "mile", "Lovelace", "@example.org", "+33"):
            assert personal not in text


async def test_openapi_documents_every_route_with_examples(app):
    async with running(app) as client:
        assert (await client.get("/docs")).status_code == 200
        spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for model in ("CentreIn", "ProgrammeIn", "SessionIn", "ApplicationIn", "DecisionIn"):
        assert schemas[model].get("examples"), model
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if body:
                ref = body["schema"].get("$ref", "").rsplit("/", 1)[-1]
                assert body.get("example") or schemas.get(ref, {}).get("examples"), (method, path)
    assert {"/centres", "/centres/{centre_id}", "/programmes/{programme_id}/sessions", "/sessions",
            "/applications/{application_id}/transitions"} <= set(spec["paths"])


async def test_programmes_from_before_sessions_get_their_first_session_at_start(pg_server, kafka):
    """A database migrated to 0001 only, with a programme and an application, then upgraded."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await ensure_database(pg_server, name)
    dsn = dsn_for_database(pg_server, name)
    await migrate(dsn, [PLUMBING_PACKAGE])
    programme_id, learner_id, application_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    version, file_name, sql = migration_files("services.intake")[0]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
        await conn.execute("INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                           "services.intake", version, file_name)
        await conn.execute(
            "INSERT INTO programmes (programme_id, centre_id, centre_name, title, region, job_family, "
            "duration_months, capacity, start_date, mode, funding_line) "
            "VALUES ($1, $2, 'Centre', 'Dev', '32', 'M1805', 6, 1, '2020-08-31', 'in_person', 'gen_label')",
            programme_id, uuid.uuid4())
        await conn.execute("INSERT INTO candidates (learner_id, email, first_name, last_name, birth_year) "
                           "VALUES ($1, 'old@example.org', 'Old', 'Timer', 1990)", learner_id)
        await conn.execute(
            "INSERT INTO applications (application_id, learner_id, programme_id, status, gender, education_level, "
            "age_band, qpv, zrr, job_seeker, region, submitted_at, decided_at) VALUES ($1, $2, $3, 'admitted', "
            "'male', '5', '26_44', false, false, true, '32', '2020-05-01T10:00:00Z', '2020-06-01T10:00:00Z')",
            application_id, learner_id, programme_id)
    finally:
        await conn.close()

    first = str(uuid.uuid5(programme_id, "first-session"))
    app = create_app(IntakeSettings(database_url=dsn, kafka_bootstrap_servers=kafka, relay_idle_seconds=0.02))
    async with running(app) as client:
        session = (await client.get(f"/sessions/{first}")).json()
        assert (session["start_date"], session["end_date"], session["capacity"], session["admitted"]) == (
            "2020-08-31", "2021-02-28", 1, 1)
        assert (await client.get(f"/applications/{application_id}")).json()["session_id"] == first
        again = await client.post("/applications", json=application_body(str(programme_id), "old@example.org"))
        assert again.status_code == 200 and again.json()["application_id"] == str(application_id)
        r = await client.post(f"/applications/{application_id}/decision", json=decision("withdrawn", "2020-07-01"))
        assert r.status_code == 200

        async def scheduled():
            records = [r for r in await read_topic(kafka, "parcours.programmes") if r.key == str(programme_id).encode()]
            return records or None

        records = await eventually(scheduled)
    assert [str(e.data.session_id) for e in events_of(records)] == [first]
    # A second start schedules nothing new (the relay may re-send a row it had not marked when the
    # first one stopped: the same event_id, which consumers drop).
    again = create_app(IntakeSettings(database_url=dsn, kafka_bootstrap_servers=kafka, relay_idle_seconds=0.02))
    async with running(again):
        await asyncio.sleep(0.5)
    records = [r for r in await read_topic(kafka, "parcours.programmes") if r.key == str(programme_id).encode()]
    assert len({e.event_id for e in events_of(records)}) == 1


async def test_a_programme_changes_delivery_mode_from_a_day(app, kafka):
    """Mode is dated history: each change from a day, published; the same change again answers 200
    and publishes nothing; another mode from the same day is refused naming the field."""
    async with running(app) as client:
        programme = (await client.post("/programmes", json=programme_body())).json()["programme_id"]
        url = f"/programmes/{programme}/modes"
        away = await client.post(url, json={"mode": "remote", "effective_on": "2020-03-17"})
        again = await client.post(url, json={"mode": "remote", "effective_on": "2020-03-17"})
        clash = await client.post(url, json={"mode": "hybrid", "effective_on": "2020-03-17"})
        back = await client.post(url, json={"mode": "in_person", "effective_on": "2020-09-01"})
        unknown = await client.post(f"/programmes/{uuid.uuid4()}/modes", json={"mode": "remote",
                                                                              "effective_on": "2020-03-17"})
        wrong = await client.post(url, json={"mode": "online", "effective_on": "2020-03-17"})

        async def published():
            records = [r for r in await read_topic(kafka, "parcours.programmes")
                       if dict(r.headers)["event_type"] == b"programme.mode_changed" and r.key == programme.encode()]
            return len(records) == 2 and records
        events = events_of(await eventually(published))
    assert away.status_code == 201 and again.status_code == 200 and back.status_code == 201
    assert back.json() == [{"effective_on": "2020-03-17", "mode": "remote"},
                           {"effective_on": "2020-09-01", "mode": "in_person"}]
    assert clash.status_code == 409 and clash.json()["field"] == "effective_on"
    assert unknown.status_code == 404 and wrong.status_code == 422
    assert [(str(e.data.effective_on), e.data.mode) for e in events] == [("2020-03-17", "remote"),
                                                                          ("2020-09-01", "in_person")]
