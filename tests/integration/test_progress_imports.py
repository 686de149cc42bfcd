"""CSV and xAPI imports of training facts, against a real PostgreSQL and a real Kafka-protocol broker."""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn

from parcours import importer
from parcours.stack import free_port
from services.progress import xapi
from services.progress.app import create_app
from services.progress.config import ProgressSettings
from tests.integration import factories as f
from tests.integration.helpers import eventually, publish, running

pytestmark = pytest.mark.integration

ADL = "http://adlnet.gov/expapi/verbs/"
COURSE = "https://w3id.org/xapi/cmi5/activitytype/course"
COLUMNS = "learner_id;programme_id;type;occurred_at;hours;milestone;exit_reason;dropout_cause;event_id"


@pytest.fixture
def dsn(new_database):
    return new_database("services.progress")


@pytest.fixture
def app(dsn, kafka):
    return create_app(ProgressSettings(database_url=dsn, kafka_bootstrap_servers=kafka, relay_idle_seconds=0.02,
                                       consumer_batch_timeout_ms=50))


async def admitted(client, kafka) -> tuple[uuid.UUID, uuid.UUID]:
    learner, programme = uuid.uuid4(), uuid.uuid4()
    await publish(kafka, [f.programme(programme), f.submitted(learner, programme), f.decided(learner, programme)])

    async def enrolled():
        r = await client.get(f"/enrolments/{learner}/{programme}")
        return r.status_code == 200 and r.json()

    assert (await eventually(enrolled))["state"] == "admitted"
    return learner, programme


async def stored(dsn: str, learner) -> tuple[int, int]:
    """(facts, outbox rows) stored for a learner."""
    conn = await asyncpg.connect(dsn)
    try:
        facts = await conn.fetchval("SELECT count(*) FROM facts WHERE learner_id = $1", learner)
        outbox = await conn.fetchval("SELECT count(*) FROM outbox WHERE key = $1", str(learner).encode())
    finally:
        await conn.close()
    return facts, outbox


def excel(lines: list[str]) -> bytes:
    """As Excel in French saves "CSV UTF-8": BOM, semicolons, CRLF."""
    return "\ufeff".encode() + ("\r\n".join([COLUMNS, *lines]) + "\r\n").encode()


def mixed_file(learner, programme) -> bytes:
    stranger, event = uuid.uuid4(), uuid.uuid4()
    L, P = learner, programme
    return excel([
        f"{L};{P};started;02/03/2020 09:00;;;;;{event}",             # 2 applied
        "",                                                           # 3 skipped
        f"{L};{P};attendance;31/03/2020 18:00;7,5;;;;",               # 4 applied
        f"{L};{P};attendance;31/03/2020;abc;;;;",                     # 5 invalid: hours
        f"{L};{P};started;2020-03-03 09:00;;;;;",                     # 6 invalid_transition
        f"{stranger};{P};started;2020-03-02;;;;;",                    # 7 not_admitted
        f"{L};{P};milestone;2020-04-15T12:00:00+02:00;;Premier projet;;;",  # 8 applied
        f"{L};{P};attendance;2020-03-02T09:00;2;;;;",                 # 9 invalid: date without offset
        f"{L};{P};exited;2020-02-01;;;completed;;",                   # 10 out_of_order
        f"{L};{P};exited;2020-06-30;;;dropped_out;;",                 # 11 invalid: no dropout_cause
        f"{L};{P};started;02/03/2020 09:00;;;;;{event}",              # 12 duplicate of line 2
    ])


EXPECTED = [(2, "applied", None), (4, "applied", None), (5, "refused", "invalid"),
            (6, "refused", "invalid_transition"), (7, "refused", "not_admitted"), (8, "applied", None),
            (9, "refused", "invalid"), (10, "refused", "out_of_order"), (11, "refused", "invalid"),
            (12, "duplicate", None)]


def outline(report: dict) -> list[tuple]:
    return [(r["line"], r["result"], r.get("code")) for r in report["results"]]


async def test_csv_upload_reports_each_line_and_stores_exactly_the_good_ones(app, kafka, dsn):
    async with running(app) as client:
        learner, programme = await admitted(client, kafka)
        r = await client.post("/facts/csv", content=mixed_file(learner, programme),
                              headers={"Content-Type": "text/csv"})
        view = (await client.get(f"/enrolments/{learner}/{programme}")).json()
    assert r.status_code == 200, r.text
    report = r.json()
    assert outline(report) == EXPECTED
    assert {k: report[k] for k in ("dry_run", "lines", "applied", "duplicate", "refused")} == {
        "dry_run": False, "lines": 10, "applied": 3, "duplicate": 1, "refused": 6}
    by_line = {r["line"]: r for r in report["results"]}
    assert [e["field"] for e in by_line[5]["errors"]] == ["hours"]
    assert by_line[9]["errors"][0]["field"] == "occurred_at" and "offset" in by_line[9]["errors"][0]["message"]
    assert "dropout_cause" in by_line[11]["errors"][0]["message"]
    assert "before the start" in by_line[10]["error"]
    assert by_line[12]["event_id"] == by_line[2]["event_id"]
    assert view["state"] == "started" and view["attendance_hours"] == 7.5
    assert view["started_at"].startswith("2020-03-02T08:00:00")  # 09:00 in Paris
    assert await stored(dsn, learner) == (3, 3)


async def test_dry_run_reports_the_same_and_stores_nothing(app, kafka, dsn):
    async with running(app) as client:
        learner, programme = await admitted(client, kafka)
        data = mixed_file(learner, programme)
        dry = await client.post("/facts/csv", params={"dry_run": "true"},
                                files={"file": ("suivi.csv", data, "text/csv")})
        after_dry = (await client.get(f"/enrolments/{learner}/{programme}")).json()
        facts_after_dry = await stored(dsn, learner)
        real = await client.post("/facts/csv", content=data, headers={"Content-Type": "text/csv; charset=utf-8"})
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True and real.json()["dry_run"] is False
    assert outline(dry.json()) == outline(real.json()) == EXPECTED
    assert [r.get("errors") for r in dry.json()["results"]] == [r.get("errors") for r in real.json()["results"]]
    assert after_dry["state"] == "admitted" and after_dry["attendance_hours"] == 0
    assert facts_after_dry == (0, 0)
    assert await stored(dsn, learner) == (3, 3)


async def test_files_refused_as_a_whole_and_the_template(app):
    header = COLUMNS.encode() + b"\n"
    line = f"{uuid.uuid4()};{uuid.uuid4()};attendance;2020-03-02;1;;;;\n".encode()
    async with running(app) as client:
        too_many = await client.post("/facts/csv", content=header + line * 10_001,
                                     headers={"Content-Type": "text/csv"})
        no_column = await client.post("/facts/csv", content=b"learner_id;type\nx;started\n",
                                      headers={"Content-Type": "text/csv"})
        form = await client.post("/facts/csv", content=header + line)  # what curl --data-binary sends
        no_file = await client.post("/facts/csv", files={"upload": ("a.csv", header + line, "text/csv")})
        cp1252 = await client.post("/facts/csv", content=header + "é".encode("cp1252"),
                                   headers={"Content-Type": "text/csv"})
        template = await client.get("/facts/csv/template")
        openapi = (await client.get("/openapi.json")).json()
    assert too_many.status_code == 413 and too_many.json()["code"] == "too_many_lines"
    assert "10,000" in too_many.json()["detail"]
    assert no_column.status_code == 422 and "missing column(s) programme_id, occurred_at" in no_column.text
    assert form.status_code == 415 and "text/csv" in form.json()["detail"]
    assert no_file.status_code == 422 and no_file.json()["code"] == "no_file"
    assert cp1252.status_code == 422 and "CSV UTF-8" in cp1252.json()["detail"]
    assert template.status_code == 200 and template.headers["content-type"].startswith("text/csv")
    assert template.text == (Path(__file__).parents[2] / "docs" / "progress-template.csv").read_text("utf-8")
    assert set(openapi["paths"]["/facts/csv"]["post"]["requestBody"]["content"]) == {"text/csv",
                                                                                     "multipart/form-data"}


def statement(learner, programme, verb: str, at: str, about_programme: bool = False, **extra) -> dict:
    definition = {"name": {"fr-FR": "Module SQL", "en-US": "SQL module"}}
    if about_programme:
        definition = {"name": {"fr-FR": "Développeur web"}, "type": COURSE}
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.centre.example", "name": str(learner)}},
        "verb": {"id": verb, "display": {"en-US": verb.rsplit("/", 1)[1]}},
        "object": {"objectType": "Activity", "id": "https://lms.centre.example/au/sql", "definition": definition},
        "context": {"registration": str(uuid.uuid4()),
                    "extensions": {xapi.PROGRAMME_ID: str(programme),
                                   "https://w3id.org/xapi/cmi5/context/extensions/sessionid": "458240298378231"}},
        "timestamp": at,
        **extra,
    }


def mixed_statements(learner, programme) -> list[dict]:
    s = [
        statement(learner, programme, ADL + "initialized", "2020-03-02T09:00:00+01:00", about_programme=True),
        statement(learner, programme, ADL + "attended", "2020-03-02T12:30:00+01:00",
                  result={"duration": "PT3H30M"}),
        statement(learner, programme, ADL + "launched", "2020-03-03T09:00:00+01:00"),
        statement(learner, programme, ADL + "attended", "2020-03-03T12:00:00+01:00", result={"duration": "PT3H"}),
        statement(learner, programme, ADL + "progressed", "2020-03-10T09:00:00Z",
                  result={"extensions": {xapi.CMI5_PROGRESS: 50}}),
        statement(learner, programme, ADL + "attended", "2020-03-11T12:00:00Z", result={"duration": "PT2H"}),
        statement(learner, programme, ADL + "completed", "2020-04-01T17:00:00+02:00"),
        statement(uuid.uuid4(), programme, ADL + "attended", "2020-03-11T12:00:00Z", result={"duration": "PT2H"}),
        statement(learner, programme, ADL + "terminated", "2020-04-01T17:05:00+02:00"),
        statement(learner, programme, ADL + "passed", "2020-10-02T17:00:00+02:00", about_programme=True),
        statement(learner, programme, ADL + "attended", "2020-10-05T12:00:00Z", result={"duration": "PT1H"}),
    ]
    s[3]["actor"] = {"objectType": "Agent", "name": "A Learner", "mbox": "mailto:learner@example.com"}
    s[5]["actor"]["account"]["name"] = "1625378"
    return s


XAPI = {"X-Experience-API-Version": "1.0.3"}


async def test_an_lms_posts_statements_to_the_lrs_and_each_becomes_a_fact_is_ignored_or_waits(app, kafka, dsn):
    """Issue 16: valid statements are kept whether or not they are training facts; the answer is the
    xAPI one (200 and the ids); what became of each is behind the door."""
    async with running(app) as client:
        learner, programme = await admitted(client, kafka)
        # The LMS knows the learner by her admitted application's id (what the centre was answered).
        statements = mixed_statements(uuid.uuid5(learner, str(programme)), programme)
        no_timestamp = copy.deepcopy(statements[1]) | {"id": str(uuid.uuid4())}
        del no_timestamp["timestamp"]
        statements.append(no_timestamp)
        first = await client.post("/xapi/statements", json=statements, headers=XAPI)
        view = (await client.get(f"/enrolments/{learner}/{programme}")).json()
        facts = await stored(dsn, learner)
        waiting = (await client.get("/xapi/attention", headers=XAPI)).json()["items"]
        with_mbox = (await client.get("/xapi/statements", params={"statementId": statements[3]["id"]},
                                      headers=XAPI)).json()
        again = await client.post("/xapi/statements", json=statements, headers=XAPI)
        facts_again = await stored(dsn, learner)
    assert first.status_code == 200, first.text
    assert first.json() == [s["id"] for s in statements] == again.json()
    assert first.headers["x-experience-api-version"] == "1.0.3"
    # Five facts applied (started, two attendances, the certification... and progressed as a milestone).
    assert view["state"] == "exited" and view["exit_reason"] == "certified" and view["attendance_hours"] == 3.5
    assert facts == (5, 5) and facts_again == facts
    # Kept and waiting, each with why: an actor known by e-mail, an account that names no application,
    # an application not admitted here, an attendance after the exit, a statement without a timestamp.
    assert sorted(w["code"] for w in waiting) == ["invalid", "not_admitted", "out_of_order", "unmappable",
                                                  "unmappable"]
    assert {w["statement_id"] for w in waiting} == {statements[k]["id"] for k in (3, 5, 7, 10, 11)}
    # E-mail addresses never leave intake: kept as their SHA-1, as xAPI compares them.
    assert "mbox" not in with_mbox["actor"] and len(with_mbox["actor"]["mbox_sha1sum"]) == 40
    assert with_mbox["stored"] and with_mbox["authority"]["objectType"] == "Agent"
    assert "learner@example.com" not in json.dumps(waiting)


async def test_the_lrs_answers_as_the_xapi_standard_says(app, kafka, dsn):
    async with running(app) as client:
        learner, programme = await admitted(client, kafka)
        application = uuid.uuid5(learner, str(programme))
        start = statement(application, programme, ADL + "initialized", "2020-03-02T09:00:00+01:00",
                          about_programme=True)
        attended = statement(application, programme, ADL + "attended", "2020-03-03T12:00:00+01:00",
                             result={"duration": "PT3H"})
        fresh = statement(application, programme, ADL + "attended", "2020-03-04T12:00:00+01:00",
                          result={"duration": "PT2H"})
        posted = await client.post("/xapi/statements", json=[start, attended], headers=XAPI)
        put_id = str(uuid.uuid4())
        put = await client.put("/xapi/statements", params={"statementId": put_id},
                               json={k: v for k, v in fresh.items() if k != "id"}, headers=XAPI)
        put_again = await client.put("/xapi/statements", params={"statementId": put_id},
                                     json={k: v for k, v in fresh.items() if k != "id"}, headers=XAPI)
        conflict = await client.post("/xapi/statements", headers=XAPI, json=[
            statement(application, programme, ADL + "attended", "2020-03-05T12:00:00Z") | {"id": str(uuid.uuid4())},
            attended | {"verb": {"id": ADL + "completed"}}])
        invalid = await client.post("/xapi/statements", headers=XAPI, json=[
            statement(application, programme, ADL + "attended", "2020-03-06T12:00:00Z"),
            attended | {"id": str(uuid.uuid4()), "verb": {"id": "attended"}}])
        no_version = await client.post("/xapi/statements", json=[fresh])
        void = await client.post("/xapi/statements", headers=XAPI, json={
            "actor": start["actor"], "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
            "object": {"objectType": "StatementRef", "id": attended["id"]}})
        hours = (await client.get(f"/enrolments/{learner}/{programme}")).json()["attendance_hours"]
        voided = await client.get("/xapi/statements", params={"statementId": attended["id"]}, headers=XAPI)
        as_voided = await client.get("/xapi/statements", params={"voidedStatementId": attended["id"]}, headers=XAPI)
        page = (await client.get("/xapi/statements", params={"limit": 2}, headers=XAPI)).json()
        rest = (await client.get(page["more"], headers=XAPI)).json()
        about = await client.get("/xapi/about")
        sizes = [await client.post("/xapi/statements", json=body, headers=XAPI)
                 for body in ([], [fresh] * 1001, "attended")]
        kept = await stored(dsn, learner)
    assert posted.status_code == 200 and posted.json() == [start["id"], attended["id"]]
    assert put.status_code == put_again.status_code == 204 and put.headers["x-experience-api-version"]
    # The same id with other content: 409, and nothing of that request kept (its other statement neither).
    assert conflict.status_code == 409 and conflict.json()["code"] == "statement_conflict"
    assert invalid.status_code == 400 and "statement[1].verb.id" in invalid.json()["detail"]
    assert no_version.status_code == 400 and no_version.json()["code"] == "xapi_version"
    # Voiding a statement voids the fact it became (3 h of attendance gone, the 2 h put stays).
    assert void.status_code == 200 and hours == 2.0
    assert voided.status_code == 404 and as_voided.json()["id"] == attended["id"]
    ids = [s["id"] for s in page["statements"] + rest["statements"]]
    assert len(page["statements"]) == 2 and len(ids) == len(set(ids)) == 3  # the voided one is left out
    assert put_id in ids and attended["id"] not in ids
    assert about.json()["version"] == ["1.0.3", "2.0.0"]
    assert [r.status_code for r in sizes] == [400, 413, 400]
    assert kept == (3, 4)  # started, two attendances (one voided), and the correction's event


@asynccontextmanager
async def serving(app):
    """The app behind a real port, for the command line."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def import_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="parcours")
    importer.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["import", "progress", *argv])


async def test_the_import_command(app, kafka, dsn, tmp_path, capsys):
    async with serving(app) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            learner, programme = await admitted(client, kafka)
        mixed = tmp_path / "suivi.csv"
        mixed.write_bytes(mixed_file(learner, programme))
        dry = await asyncio.to_thread(importer.run_import, import_args(str(mixed), "--dry-run", "--progress-url", url))
        dry_out = capsys.readouterr().out
        facts_after_dry = await stored(dsn, learner)
        good = tmp_path / "good.csv"
        good.write_text(f"learner_id,programme_id,type,occurred_at\n{learner},{programme},started,2020-03-02\n")
        real = await asyncio.to_thread(importer.run_import, import_args(str(good), "--progress-url", url,
                                                                         "--lang", "en"))
        real_out = capsys.readouterr().out
        missing = await asyncio.to_thread(importer.run_import, import_args(str(tmp_path / "nope.csv")))
        missing_out = capsys.readouterr().out
    unreachable = importer.run_import(import_args(str(good), "--progress-url", url))
    unreachable_out = capsys.readouterr().out

    assert dry == 1 and facts_after_dry == (0, 0)
    printed = dry_out.splitlines()
    # In French by default (issue 18), with the code beside the words for a script.
    assert printed[0].startswith("ligne 5 : refusée (invalid) colonne hours : "), printed[0]
    assert [p.split(" :")[0] for p in printed[:-1]] == [f"ligne {n}" for n in (5, 6, 7, 9, 10, 11, 12)]
    assert printed[-1] == (f"{mixed} : 10 lignes, 3 à appliquer, 1 déjà enregistrée(s), 6 refusée(s) "
                           "(essai : rien n'a été enregistré)")
    assert real == 0 and real_out == f"{good}: 1 line, 1 applied, 0 already recorded, 0 refused\n"
    assert await stored(dsn, learner) == (1, 1)
    assert missing == 2 and "cannot read" in missing_out
    assert unreachable == 2 and "cannot reach the progress service" in unreachable_out


def test_the_command_line_defaults(monkeypatch):
    monkeypatch.delenv("PARCOURS_PROGRESS_URL", raising=False)
    monkeypatch.delenv("PARCOURS_PROGRESS_PORT", raising=False)
    args = import_args("facts.csv")
    assert (args.command, args.what, args.file, args.dry_run) == ("import", "progress", Path("facts.csv"), False)
    assert args.progress_url == "http://127.0.0.1:8002"
    monkeypatch.setenv("PARCOURS_PROGRESS_URL", "http://progress:9000")
    assert import_args("facts.csv").progress_url == "http://progress:9000"



async def test_statements_sent_before_the_admission_are_applied_when_it_comes(app, kafka, dsn):
    """Issue 16: a statement that cannot be placed yet waits, and is applied when what it needs arrives."""
    learner, programme, application = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    early = [statement(application, programme, ADL + "initialized", "2020-03-02T09:00:00+01:00",
                       about_programme=True),
             statement(application, programme, ADL + "attended", "2020-03-02T12:30:00+01:00",
                       result={"duration": "PT3H"})]
    async with running(app) as client:
        await publish(kafka, [f.programme(programme)])
        posted = await client.post("/xapi/statements", json=early, headers=XAPI)
        waiting = (await client.get("/xapi/attention", headers=XAPI)).json()["items"]
        await publish(kafka, [f.admitted(learner, programme, application)])

        async def placed():
            r = await client.get(f"/enrolments/{application}")
            return r.status_code == 200 and r.json()["state"] == "started" and r.json()
        view = await eventually(placed)
        after = (await client.get("/xapi/attention", headers=XAPI)).json()["items"]
    assert posted.status_code == 200
    assert sorted(w["code"] for w in waiting) == ["not_admitted", "not_admitted"]
    assert view["attendance_hours"] == 3.0 and after == []


async def test_statements_waiting_for_an_earlier_fact_are_applied_when_it_comes_however_it_comes(dsn, kafka):
    """Issue 16: an attendance sent before the start waits (the learner has not started); the start
    sent later by the LMS applies it at once, one posted by the centre (a spreadsheet, the API) in
    the background; one that never fits is tried less and less often."""
    app = create_app(ProgressSettings(database_url=dsn, kafka_bootstrap_servers=kafka, relay_idle_seconds=0.02,
                                      consumer_batch_timeout_ms=50, xapi_retry_seconds=0.2))
    async with running(app) as client:
        (one, programme), (two, programme_two) = await admitted(client, kafka), await admitted(client, kafka)
        first, second = uuid.uuid5(one, str(programme)), uuid.uuid5(two, str(programme_two))
        early = statement(first, programme, ADL + "attended", "2020-03-03T12:00:00+01:00",
                          result={"duration": "PT3H"})
        waited = (await client.post("/xapi/statements", json=[early], headers=XAPI)).status_code
        waiting = [w["code"] for w in (await client.get("/xapi/attention", headers=XAPI)).json()["items"]]
        start = statement(first, programme, ADL + "initialized", "2020-03-02T09:00:00+01:00", about_programme=True)
        await client.post("/xapi/statements", json=[start], headers=XAPI)
        at_once = (await client.get(f"/enrolments/{first}")).json()  # no waiting for the background

        other = statement(second, programme_two, ADL + "attended", "2020-03-03T12:00:00+01:00",
                          result={"duration": "PT2H"})
        never = statement(second, uuid.uuid4(), ADL + "attended", "2020-03-03T12:00:00+01:00",
                          result={"duration": "PT1H"})  # a programme no one knows: waits for good
        await client.post("/xapi/statements", json=[other, never], headers=XAPI)
        posted = await client.post("/facts", json={"application_id": str(second), "programme_id": str(programme_two),
                                                   "type": "started", "occurred_at": "2020-03-02T09:00:00+01:00"})

        async def applied_later():
            view = (await client.get(f"/enrolments/{second}")).json()
            return view["attendance_hours"] == 2.0 and view
        later = await eventually(applied_later, timeout=20)
        left = (await client.get("/xapi/attention", headers=XAPI)).json()["items"]
        await asyncio.sleep(1.0)
    conn = await asyncpg.connect(dsn)
    try:
        tries = await conn.fetchrow("SELECT attempts, retry_at > now() + interval '30 seconds' AS later "
                                    "FROM xapi_statements WHERE statement_id = $1", uuid.UUID(never["id"]))
    finally:
        await conn.close()
    assert waited == 200 and len(waiting) == 1 and waiting[0] in ("invalid_transition", "out_of_order")
    assert at_once["state"] == "started" and at_once["attendance_hours"] == 3.0
    assert posted.status_code == 201 and later["state"] == "started"
    assert [w["statement_id"] for w in left] == [never["id"]]
    # Tried once a few tenths of a second after it came, then not before a minute, two, four...
    assert tries["attempts"] == 1 and tries["later"], dict(tries)


async def test_a_centre_maps_its_lms_accounts_and_their_statements_become_facts(app, kafka, dsn):
    """Issue 16: an LMS need not know Parcours ids; an e-mail address is matched by its SHA-1, never kept."""
    async with running(app) as client:
        learner, programme = await admitted(client, kafka)
        application = uuid.uuid5(learner, str(programme))
        by_login = statement(application, programme, ADL + "initialized", "2020-03-02T09:00:00+01:00",
                             about_programme=True)
        by_login["actor"] = {"objectType": "Agent", "account": {"homePage": "https://lms.centre.example",
                                                                "name": "jdupont"}}
        by_mail = statement(application, programme, ADL + "attended", "2020-03-02T12:30:00+01:00",
                            result={"duration": "PT3H"})
        by_mail["actor"] = {"objectType": "Agent", "mbox": "mailto:jeanne.dupont@example.org"}
        await client.post("/xapi/statements", json=[by_login, by_mail], headers=XAPI)
        waiting = (await client.get("/xapi/attention", headers=XAPI)).json()["items"]
        mapped = await client.put("/xapi/accounts", json={"items": [
            {"actor": by_login["actor"], "application_id": str(application)},
            {"actor": {"mbox": "mailto:jeanne.dupont@example.org"}, "application_id": str(application)}]})
        after = (await client.get("/xapi/attention", headers=XAPI)).json()["items"]
        view = (await client.get(f"/enrolments/{application}")).json()
        bad = await client.put("/xapi/accounts", json={"items": [{"actor": {"name": "x"},
                                                                  "application_id": str(application)}]})
    conn = await asyncpg.connect(dsn)
    try:
        kept = json.dumps([dict(r) for r in await conn.fetch("SELECT * FROM lms_accounts")], default=str)
    finally:
        await conn.close()
    assert len(waiting) == 2 and after == []
    assert mapped.status_code == 200 and mapped.json() == {"mapped": 2, "applied": 2}
    assert view["state"] == "started" and view["attendance_hours"] == 3.0
    assert "jeanne.dupont" not in kept and "mbox_sha1sum:" in kept
    assert bad.status_code == 422
