"""R12 — nobody reads or writes where they don't belong: every route of the three services,
with no key, a revoked or expired key, the wrong role, and another centre's key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.intake import api as intake_api
from services.intake import pages as intake_pages
from services.intake.app import create_app as intake_app
from services.intake.config import IntakeSettings
from services.outcomes import api as outcomes_api
from services.outcomes import centre_figures, dashboard
from services.outcomes import web as outcomes_web
from services.outcomes.app import create_app as outcomes_app
from services.outcomes.config import OutcomesSettings
from services.progress import access as progress_access
from services.progress import api as progress_api
from services.progress import imports_api, lrs_api
from services.progress import pages as progress_pages
from services.progress.app import create_app as progress_app
from services.progress.config import ProgressSettings
from shared.plumbing import auth
from tests.integration import factories as f
from tests.integration.helpers import eventually, publish, running

pytestmark = pytest.mark.integration
CENTRE_A, CENTRE_B = uuid.uuid4(), uuid.uuid4()
SERVICES = {
    "intake": (intake_app, IntakeSettings, "services.intake", intake_api.POLICY | intake_pages.POLICY),
    "progress": (progress_app, ProgressSettings, "services.progress", progress_access.POLICY | progress_pages.POLICY),
    "outcomes": (outcomes_app, OutcomesSettings, "services.outcomes", outcomes_api.POLICY | outcomes_web.POLICY
                 | dashboard.POLICY | centre_figures.POLICY),
}
ROUTERS = {"intake": [intake_api.router, intake_pages.router],
           "progress": [progress_api.router, imports_api.router, lrs_api.router, progress_pages.router],
           "outcomes": [outcomes_api.router, outcomes_web.router, dashboard.router, centre_figures.router]}
PAGES = ("/staff", "/manager", "/centre")  # a person's pages: a GET without a key goes to the sign-in


async def make_keys(dsn: str) -> dict[str, str]:
    """One key per role and state, stored as `parcours keys` stores them."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    tokens = {}
    now = datetime.now(UTC)
    try:
        for name, role, centre, expires in (
            ("admin", "admin", None, now + timedelta(days=1)), ("centre_a", "centre", CENTRE_A, None),
            ("centre_b", "centre", CENTRE_B, None), ("followup", "followup", None, None),
            ("manager", "manager", None, None), ("revoked", "admin", None, None),
            ("expired", "admin", None, now - timedelta(seconds=1)),
        ):
            tokens[name] = auth.new_token()
            key_id = uuid.uuid4()
            await auth.store_key(pool, key_id, name, role, centre, auth.hash_token(tokens[name]), expires)
            if name == "revoked":
                await auth.revoke_key(pool, key_id)
    finally:
        await pool.close()
    return tokens


async def key_id_of(dsn: str, name: str) -> str:
    """The id of a key make_keys stored (HTTP Basic's user)."""
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SELECT key_id FROM api_keys WHERE name = $1", name))
    finally:
        await conn.close()


async def snapshot(dsn: str) -> dict:
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'")]
        return {t: await conn.fetchval(f'SELECT count(*) FROM "{t}"') for t in tables}  # names from the catalog
    finally:
        await conn.close()


PROGRAMME_A = {"centre_id": str(CENTRE_A), "centre_name": "Centre A", "title": "Dev", "region": "32",
               "job_family": "M1805", "duration_months": 7, "capacity": 5, "start_date": "2020-03-02"}


def application_to(programme_id: str, email: str) -> dict:
    return {"programme_id": programme_id, "submitted_at": "2020-01-15T10:00:00+01:00", "candidate": {
        "first_name": "Ada", "last_name": "L", "email": email, "birth_year": 1998, "gender": "female",
        "education_level": "4", "qpv": False, "zrr": False, "job_seeker": True, "region": "32"}}


def concrete(path: str) -> str:
    for name in ("programme_id", "session_id", "centre_id", "application_id", "learner_id", "event_id",
                 "enrolment_id", "report_id"):
        path = path.replace("{" + name + "}", str(uuid.uuid4()))
    return path


def header(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def leave_training(kafka: str, dsn: str, learner, programme, application_id,
                         exited_at: str = "2020-10-02T17:00:00") -> None:
    """The enrolment of an admitted application starts and ends, as progress tells intake: its
    follow-up is open, and its contact details readable by follow-up staff."""
    learner, programme, application_id = (uuid.UUID(str(x)) for x in (learner, programme, application_id))
    await publish(kafka, [f.training_v2("started", learner, programme, application_id, "2020-03-02T09:00:00"),
                          f.training_v2("exited", learner, programme, application_id, exited_at,
                                        reason="certified")])

    async def recorded():
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval("SELECT exited_at FROM enrolment_exits WHERE enrolment_id = $1",
                                       application_id) is not None
        finally:
            await conn.close()
    await eventually(recorded)


@pytest.fixture
def stacks(new_database, kafka, monkeypatch):
    monkeypatch.setenv("PARCOURS_AUTH_REQUIRED", "true")
    built = {}
    for name, (create, settings, package, policy) in SERVICES.items():
        dsn = new_database(package)
        built[name] = (create(settings(database_url=dsn, kafka_bootstrap_servers=kafka, auth_required=True,
                                       consumer_batch_timeout_ms=50)), dsn, policy)
    return built


@pytest.mark.parametrize("service", list(SERVICES))
async def test_r12_every_route_refuses_missing_bad_and_wrong_keys_and_changes_nothing(stacks, service):
    app, dsn, policy = stacks[service]
    tokens = await make_keys(dsn)
    ledger = {"routes": 0, "401": 0, "403": 0}
    async with running(app) as client:
        routes = {(m, r.path) for router in ROUTERS[service] for r in router.routes for m in r.methods}
        assert routes == set(policy), "every route has an access policy, and only routes do"
        before = await snapshot(dsn)
        for method, path in sorted(policy):
            roles = policy[(method, path)]
            ledger["routes"] += 1
            url = concrete(path)
            body = {} if method in ("POST", "PUT") else None
            if roles == auth.PUBLIC:
                continue
            for who in (None, "revoked", "expired", "pk_unknown"):
                token = tokens.get(who, who)
                r = await client.request(method, url, json=body, headers=header(token), follow_redirects=False)
                expected = {401, 303} if path.startswith(PAGES) and method == "GET" else {401}
                assert r.status_code in expected, f"{method} {path} with {who}: {r.status_code}"
                ledger["401"] += 1
            for role in ("centre_a", "followup", "manager"):
                allowed = tokens and auth.Principal(None, auth_role(role)).role in roles
                if allowed:
                    continue
                r = await client.request(method, url, json=body, headers=header(tokens[role]))
                assert r.status_code == 403, f"{method} {path} as {role}: {r.status_code} {r.text[:100]}"
                ledger["403"] += 1
        assert await snapshot(dsn) == before
    print(f"R12 {service}: {ledger} and nothing changed")


def auth_role(name: str) -> str:
    return {"centre_a": "centre"}.get(name, name)


async def test_r12_a_centre_reaches_only_its_own_learners(stacks, kafka):
    intake, intake_dsn, _ = stacks["intake"]
    progress, progress_dsn, _ = stacks["progress"]
    intake_keys, progress_keys = await make_keys(intake_dsn), await make_keys(progress_dsn)
    async with running(intake) as client:
        admin = header(intake_keys["admin"])
        programme = PROGRAMME_A
        r = await client.post("/programmes", json=programme, headers=header(intake_keys["centre_a"]))
        assert r.status_code == 403  # the catalogue is the administrator's
        programme_id = (await client.post("/programmes", json=programme, headers=admin)).json()["programme_id"]
        application = application_to(programme_id, "ada@example.org")
        before = await snapshot(intake_dsn)
        r = await client.post("/applications", json=application, headers=header(intake_keys["centre_b"]))
        assert r.status_code == 403
        batch = await client.post("/applications/batch", json={"items": [application]},
                                  headers=header(intake_keys["centre_b"]))
        assert batch.json()["results"][0]["code"] == "forbidden"
        assert await snapshot(intake_dsn) == before
        mine = await client.post("/applications", json=application, headers=header(intake_keys["centre_a"]))
        assert mine.status_code == 201
        application_id = mine.json()["application_id"]
        decide = {"decision": "admitted", "decided_at": "2020-02-01T09:00:00Z"}
        r = await client.post(f"/applications/{application_id}/decision", json=decide,
                              headers=header(intake_keys["centre_b"]))
        assert r.status_code == 403
        assert (await client.get(f"/applications/{application_id}", headers=header(intake_keys["centre_b"]))
                ).status_code == 403
        listed = await client.get("/applications", headers=header(intake_keys["centre_b"]))
        assert listed.status_code == 200 and listed.json()["total"] == 0
        listed = await client.get("/applications", headers=header(intake_keys["centre_a"]))
        assert listed.json()["total"] == 1
        learner_a = (await client.get(f"/applications/{application_id}", headers=admin)).json()["learner_id"]
        assert mine.json()["learner_id"] is None and listed.json()["items"][0]["learner_id"] is None
        assert (await client.get(f"/learners/{learner_a}/contact",
                                 headers=header(intake_keys["centre_a"]))).status_code == 403
        # No follow-up open yet: nothing for follow-up staff to read.
        assert (await client.get(f"/learners/{learner_a}/contact",
                                 headers=header(intake_keys["followup"]))).status_code == 404

    learner, programme_a = uuid.uuid4(), uuid.uuid4()
    await publish(kafka, [f.programme(programme_a) .model_copy(update={"data": f.programme(programme_a).data.model_copy(
        update={"centre_id": CENTRE_A})}), f.submitted(learner, programme_a), f.decided(learner, programme_a)])
    async with running(progress) as client:
        async def enrolled():
            r = await client.get(f"/enrolments/{learner}/{programme_a}", headers=header(progress_keys["admin"]))
            return r.status_code == 200
        await eventually(enrolled)
        fact = {"learner_id": str(learner), "programme_id": str(programme_a), "type": "started",
                "occurred_at": "2020-03-02T09:00:00Z"}
        before = await snapshot(progress_dsn)
        assert (await client.post("/facts", json=fact, headers=header(progress_keys["centre_b"]))).status_code == 403
        batch = await client.post("/facts/batch", json={"items": [fact]}, headers=header(progress_keys["centre_b"]))
        assert batch.json()["results"][0]["code"] == "forbidden"
        csv = f"learner_id,programme_id,type,occurred_at\n{learner},{programme_a},started,2020-03-02T09:00:00Z\n"
        r = await client.post("/facts/csv", content=csv, headers={"content-type": "text/csv",
                                                                   **header(progress_keys["centre_b"])})
        assert r.json()["refused"] == 1
        assert await snapshot(progress_dsn) == before
        r = await client.post("/facts", json=fact, headers=header(progress_keys["centre_a"]))
        assert r.status_code == 201


async def test_security_6_idempotency_keys_are_each_centres_own(stacks, kafka):
    # Finding 6 of the security review: one namespace for every centre, so a centre numbering its
    # lines like another ("ligne-5") had its fact refused as a conflict with the other's.
    progress, progress_dsn, _ = stacks["progress"]
    keys = await make_keys(progress_dsn)
    events, facts = [], {}
    for name, centre in (("centre_a", CENTRE_A), ("centre_b", CENTRE_B)):
        learner, programme = uuid.uuid4(), uuid.uuid4()
        registered = f.programme(programme)
        events += [registered.model_copy(update={"data": registered.data.model_copy(update={"centre_id": centre})}),
                   f.submitted(learner, programme), f.decided(learner, programme)]
        facts[name] = {"learner_id": str(learner), "programme_id": str(programme), "type": "started",
                       "occurred_at": "2020-03-02T09:00:00Z"}
    await publish(kafka, events)
    async with running(progress) as client:
        async def enrolled():
            for fact in facts.values():
                r = await client.get(f"/enrolments/{fact['learner_id']}/{fact['programme_id']}",
                                     headers=header(keys["admin"]))
                if r.status_code != 200:
                    return False
            return True
        await eventually(enrolled)
        answers = {}
        for attempt in (1, 2):
            for name, fact in facts.items():
                r = await client.post("/facts", json=fact, headers={"Idempotency-Key": "ligne-5", **header(keys[name])})
                answers[(name, attempt)] = (r.status_code, r.json().get("result"))
    assert answers == {("centre_a", 1): (201, "applied"), ("centre_b", 1): (201, "applied"),
                       ("centre_a", 2): (200, "duplicate"), ("centre_b", 2): (200, "duplicate")}


async def test_security_6_session_counts_are_visible_only_to_their_centre(stacks):
    # Finding 6 of the security review: any centre read another's live admission counts.
    intake, intake_dsn, _ = stacks["intake"]
    keys = await make_keys(intake_dsn)
    async with running(intake) as client:
        programme = PROGRAMME_A
        created = (await client.post("/programmes", json=programme, headers=header(keys["admin"]))).json()
        session_id, programme_id = created["first_session_id"], created["programme_id"]
        b, a = header(keys["centre_b"]), header(keys["centre_a"])
        asked = await client.get("/sessions", params={"centre_id": str(CENTRE_A)}, headers=b)
        unfiltered = (await client.get("/sessions", headers=b)).json()
        one = await client.get(f"/sessions/{session_id}", headers=b)
        seen_by_b = (await client.get(f"/programmes/{programme_id}", headers=b)).json()
        own = (await client.get("/sessions", headers=a)).json()
        seen_by_a = (await client.get(f"/programmes/{programme_id}", headers=a)).json()
        staff = (await client.get("/sessions", params={"centre_id": str(CENTRE_A)},
                                  headers=header(keys["manager"]))).json()
    assert asked.status_code == 403 and one.status_code == 403
    assert unfiltered["total"] == 0 and seen_by_b.get("sessions") is None and seen_by_b["title"] == "Dev"
    assert own["total"] == 1 and own["items"][0]["admitted"] == 0 and len(seen_by_a["sessions"]) == 1
    assert staff["total"] == 1


async def test_security_6_every_contact_read_is_logged_for_the_administrator(stacks, kafka):
    # Finding 6 of the security review: a follow-up key read anyone's contact details with no trace.
    intake, intake_dsn, _ = stacks["intake"]
    keys = await make_keys(intake_dsn)
    async with running(intake) as client:
        programme = PROGRAMME_A
        programme_id = (await client.post("/programmes", json=programme,
                                          headers=header(keys["admin"]))).json()["programme_id"]
        application = application_to(programme_id, "ada.log@example.org")
        application_id = (await client.post("/applications", json=application,
                                            headers=header(keys["centre_a"]))).json()["application_id"]
        learner = (await client.get(f"/applications/{application_id}",
                                    headers=header(keys["admin"]))).json()["learner_id"]
        await leave_training(kafka, intake_dsn, learner, programme_id, application_id)
        before = (await client.get("/contact-reads", headers=header(keys["admin"]))).json()["items"]
        assert (await client.get(f"/learners/{learner}/contact", headers=header(keys["followup"]))).status_code == 200
        assert (await client.get(f"/learners/{uuid.uuid4()}/contact",
                                 headers=header(keys["followup"]))).status_code == 404  # nothing read, nothing logged
        log = (await client.get("/contact-reads", params={"learner_id": learner},
                                headers=header(keys["admin"]))).json()["items"]
        refused = [(await client.get("/contact-reads", headers=header(keys[who]))).status_code
                   for who in ("followup", "centre_a", "manager")]
    assert before == []
    assert [(r["learner_id"], r["key_name"], r["role"]) for r in log] == [(learner, "followup", "followup")]
    assert refused == [403, 403, 403]


async def test_security_6_a_transition_records_the_keys_holder_and_the_declared_actor_beside_it(stacks):
    intake, intake_dsn, _ = stacks["intake"]
    keys = await make_keys(intake_dsn)
    async with running(intake) as client:
        programme = PROGRAMME_A
        programme_id = (await client.post("/programmes", json=programme,
                                          headers=header(keys["admin"]))).json()["programme_id"]
        application = application_to(programme_id, "ada.actor@example.org")
        centre = header(keys["centre_a"])
        created = (await client.post("/applications", json=application,
                                     headers={**centre, "X-Actor": "staff:lille-0042"})).json()
        await client.post(f"/applications/{created['application_id']}/decision", headers=centre,
                          json={"decision": "admitted", "decided_at": "2020-02-01T09:00:00Z"})
        transitions = (await client.get(f"/applications/{created['application_id']}/transitions",
                                        headers=centre)).json()
    assert [(t["status"], t["actor"]) for t in transitions] == [
        ("submitted", "staff:lille-0042 (key: centre_a)"), ("admitted", "centre_a")]


async def test_an_lms_authenticates_with_http_basic_the_keys_id_as_user_and_the_key_as_password(stacks):
    """Issue 16: adl-xapiwrapper and Ralph's LRS client speak only HTTP Basic."""
    import base64

    intake, dsn, _ = stacks["intake"]
    keys = await make_keys(dsn)
    key_id = await key_id_of(dsn, "centre_a")

    def basic(user: str, password: str) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    async with running(intake) as client:
        ok = await client.get("/applications", headers=basic(key_id, keys["centre_a"]))
        other_user = await client.get("/applications", headers=basic(str(uuid.uuid4()), keys["centre_a"]))
        no_password = await client.get("/applications", headers=basic(key_id, ""))
        garbage = await client.get("/applications", headers={"Authorization": "Basic %%%"})
        wrong_key = await client.get("/applications", headers=basic(key_id, keys["centre_b"]))
    assert ok.status_code == 200 and ok.json()["total"] == 0
    assert [r.status_code for r in (other_user, no_password, garbage, wrong_key)] == [401] * 4
    assert "Basic" in garbage.headers["www-authenticate"]
