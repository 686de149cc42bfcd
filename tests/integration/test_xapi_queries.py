"""Issue 16: the LRS door's Statement resource read back as xAPI says (Communication 2.1.3): the
filters, what refers to a match, voided statements, paging and order, the forms given back, the
headers, a centre's statements its own; and what is refused with 400 keeps nothing. Against a
real PostgreSQL and a real Kafka-protocol broker, with centre keys."""

# ruff: noqa: F811 -- `stack` is xapi_setup's fixture, imported and then named by the tests.
from __future__ import annotations

import hashlib
import json
import uuid

import asyncpg
import pytest

from tests.integration.helpers import running
from tests.integration.test_access import make_keys
from tests.integration.xapi_setup import stack  # noqa: F401

pytestmark = pytest.mark.integration
ADL = "http://adlnet.gov/expapi/verbs/"
V1, V2 = {"X-Experience-API-Version": "1.0.3"}, {"X-Experience-API-Version": "2.0.0"}
ANNE = {"objectType": "Agent", "account": {"homePage": "https://lms.example", "name": "anne"}}
BOB = {"objectType": "Agent", "name": "Bob", "mbox": "mailto:bob@example.org"}
CLEO = {"objectType": "Agent", "openid": "https://id.example/cleo"}
SQL, WEB, CSS = "https://lms.example/sql", "https://lms.example/web", "https://lms.example/css"


def said(actor: dict, verb: str, target: dict, **extra) -> dict:
    return {"id": str(uuid.uuid4()), "actor": actor, "verb": {"id": ADL + verb, "display": {"en-US": verb}},
            "object": target, "timestamp": "2020-03-02T12:00:00+01:00", **extra}


def activity(iri: str) -> dict:
    return {"objectType": "Activity", "id": iri,
            "definition": {"name": {"en-US": iri[-3:], "fr-FR": iri[-3:] + " (fr)"}}}


def ref(statement: dict) -> dict:
    return {"objectType": "StatementRef", "id": statement["id"]}


def the_statements() -> dict[str, dict]:
    """Anne attends SQL (voided below); Bob completes WEB, part of SQL, taught by Anne; Cleo says
    that Anne experienced CSS; Bob voids the first; Cleo comments on the second. None is a fact a
    learner of Parcours could be given (an unknown account, an mbox, an openid): all are kept."""
    registration = str(uuid.uuid4())
    s = {"attended": said(ANNE, "attended", activity(SQL), context={"registration": registration.upper()})}
    s["completed"] = said(BOB, "completed", activity(WEB), context={
        "instructor": ANNE, "contextActivities": {"parent": {"id": SQL}}})
    s["experienced"] = said(CLEO, "experienced", {"objectType": "SubStatement", "actor": ANNE,
                                                  "verb": {"id": ADL + "experienced"}, "object": activity(CSS)})
    s["voiding"] = said(BOB, "voided", ref(s["attended"]))
    s["commented"] = said(CLEO, "commented", ref(s["completed"]))
    return s


async def ids_of(client, auth: dict, **params) -> set[str]:
    r = await client.get("/xapi/statements", params=params, headers=V1 | auth)
    assert r.status_code == 200, r.text
    return {s["id"] for s in r.json()["statements"]}


async def test_filters_match_what_refers_to_a_match_and_leave_voided_statements_out(stack):
    app, dsn = stack
    keys = await make_keys(dsn)
    a, b = {"Authorization": f"Bearer {keys['centre_a']}"}, {"Authorization": f"Bearer {keys['centre_b']}"}
    s = the_statements()
    other = said(ANNE, "attended", activity(SQL))  # centre B's, about the same account and activity
    async with running(app) as client:
        for name in ("attended", "completed", "experienced", "voiding", "commented"):  # one stored moment each
            assert (await client.post("/xapi/statements", json=s[name], headers=V1 | a)).status_code == 200
        assert (await client.post("/xapi/statements", json=other, headers=V1 | b)).status_code == 200
        anne = json.dumps(ANNE)
        found = {
            "all": await ids_of(client, a),
            "anne": await ids_of(client, a, agent=anne),
            "anne, related": await ids_of(client, a, agent=anne, related_agents="true"),
            "bob by mbox": await ids_of(client, a, agent=json.dumps({"mbox": BOB["mbox"]})),
            "bob by its sum": await ids_of(client, a, agent=json.dumps(
                {"mbox_sha1sum": hashlib.sha1(BOB["mbox"].encode()).hexdigest()})),
            "completed": await ids_of(client, a, verb=ADL + "completed"),
            "sql": await ids_of(client, a, activity=SQL),
            "sql, related": await ids_of(client, a, activity=SQL, related_activities="true"),
            "css, related": await ids_of(client, a, activity=CSS, related_activities="true"),
            "registration": await ids_of(client, a, registration=s["attended"]["context"]["registration"].lower()),
            "anne attended sql": await ids_of(client, a, agent=anne, verb=ADL + "attended", activity=SQL),
            "centre b": await ids_of(client, b),
            "centre b, anne": await ids_of(client, b, agent=anne),
        }
        voided = await client.get("/xapi/statements", params={"statementId": s["attended"]["id"]}, headers=V1 | a)
        as_voided = await client.get("/xapi/statements", params={"voidedStatementId": s["attended"]["id"]},
                                     headers=V1 | a)
        elsewhere = await client.get("/xapi/statements", params={"statementId": s["completed"]["id"]},
                                     headers=V1 | b)
    ids = {name: statement["id"] for name, statement in s.items()}
    # The voided statement is never in a list; the voiding one is, and so is any statement referring to a match.
    assert found["all"] == {ids[n] for n in ("completed", "experienced", "voiding", "commented")}
    assert found["anne"] == {ids["voiding"]}  # she attended (voided): what voids it refers to it
    assert found["anne, related"] == {ids[n] for n in ("completed", "experienced", "voiding", "commented")}
    assert found["bob by mbox"] == found["bob by its sum"] == {ids[n] for n in ("completed", "voiding",
                                                                                  "commented")}
    assert found["completed"] == {ids["completed"], ids["commented"]}
    assert found["sql"] == {ids["voiding"]}
    assert found["sql, related"] == {ids[n] for n in ("completed", "voiding", "commented")}
    assert found["css, related"] == {ids["experienced"]}
    assert found["registration"] == {ids["voiding"]}
    assert found["anne attended sql"] == {ids["voiding"]}
    # A centre reads its own statements only.
    assert found["centre b"] == found["centre b, anne"] == {other["id"]}
    assert elsewhere.status_code == 404
    assert voided.status_code == 404 and as_voided.status_code == 200 and as_voided.json()["id"] == ids["attended"]


async def test_pages_order_time_windows_forms_and_headers(stack):
    app, dsn = stack
    keys = await make_keys(dsn)
    a = {"Authorization": f"Bearer {keys['centre_a']}"}
    first = [said(ANNE, "attended", activity(SQL)) for _ in range(3)]
    later = [said(BOB, "completed", activity(WEB), context={"contextActivities": {"grouping": activity(SQL)}})
             for _ in range(4)]
    async with running(app) as client:
        await client.post("/xapi/statements", json=first, headers=V1 | a)
        await client.post("/xapi/statements", json=later, headers=V1 | a)
        whole = (await client.get("/xapi/statements", headers=V1 | a)).json()
        pages, more = [], "/xapi/statements?limit=3"
        while more:
            page = await client.get(more, headers=V1 | a)
            assert page.status_code == 200 and "x-experience-api-consistent-through" in page.headers
            pages.append([s["id"] for s in page.json()["statements"]])
            more = page.json()["more"]
        ascending = (await client.get("/xapi/statements", params={"ascending": "true"}, headers=V1 | a)).json()
        stored = sorted({s["stored"] for s in whole["statements"]})
        since = await ids_of(client, a, since=stored[0])
        until = await ids_of(client, a, until=stored[0])
        one = later[0]["id"]
        ids = (await client.get("/xapi/statements", params={"statementId": one, "format": "ids"},
                                headers=V2 | a))
        canonical = (await client.get("/xapi/statements", params={"statementId": one, "format": "canonical"},
                                      headers=V1 | a | {"Accept-Language": "fr-FR, en;q=0.5"})).json()
        multipart = await client.get("/xapi/statements", params={"statementId": one, "attachments": "true"},
                                     headers=V1 | a)
    listed = [s["id"] for s in whole["statements"]]
    # Newest first by default, 7 statements in pages of 3, 3 and 1; ascending is the reverse.
    assert set(listed) == {s["id"] for s in first + later} and whole["more"] == ""
    assert [len(p) for p in pages] == [3, 3, 1] and sum(pages, []) == listed
    assert [s["id"] for s in ascending["statements"]] == listed[::-1]
    assert set(listed[:4]) == {s["id"] for s in later}
    # since excludes its moment, until includes it.
    assert since == {s["id"] for s in later} and until == {s["id"] for s in first}
    # ids: identifiers only; the answer speaks the request's version; Last-Modified is when it was stored.
    assert ids.status_code == 200 and ids.headers["x-experience-api-version"] == "2.0.0"
    body = ids.json()
    assert body["verb"] == {"id": ADL + "completed"} and body["object"] == {"id": WEB}
    assert body["actor"] == {"objectType": "Agent", "mbox_sha1sum": hashlib.sha1(BOB["mbox"].encode()).hexdigest()}
    assert ids.headers["last-modified"].endswith("GMT")
    # canonical: one language per map, the best of Accept-Language's.
    assert canonical["object"]["definition"]["name"] == {"fr-FR": "web (fr)"}
    assert canonical["context"]["contextActivities"]["grouping"][0]["definition"]["name"] == {"fr-FR": "sql (fr)"}
    assert canonical["verb"]["display"] == {"en-US": "completed"}
    # attachments=true: the multipart form, the statement its only part (no attachment data is kept).
    assert multipart.headers["content-type"].startswith("multipart/mixed; boundary=")
    assert f'"id": "{one}"' in multipart.text and multipart.text.count("Content-Type:") == 1


async def count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM xapi_statements")
    finally:
        await conn.close()


async def test_what_is_refused_with_400_keeps_nothing_and_still_says_its_version(stack):
    app, dsn = stack
    keys = await make_keys(dsn)
    a = {"Authorization": f"Bearer {keys['centre_a']}"}
    good = said(ANNE, "attended", activity(SQL))
    boundary = "xyz"

    def multipart(*parts: str) -> bytes:
        body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
        return body.encode()

    statement_part = f"Content-Type: application/json\r\n\r\n{json.dumps(said(BOB, 'attended', activity(SQL)))}"
    async with running(app) as client:
        refused = {
            "malformed JSON": await client.post("/xapi/statements", content=b'{"actor": ',
                                                headers=V1 | a | {"Content-Type": "application/json"}),
            "one invalid in a batch": await client.post("/xapi/statements", headers=V1 | a, json=[
                good, said(ANNE, "attended", {"objectType": "activity", "id": SQL})]),
            "a null": await client.post("/xapi/statements", headers=V1 | a,
                                        json=said(ANNE, "attended", activity(SQL), result={"success": None})),
            "PUT without statementId": await client.put("/xapi/statements", json=good, headers=V1 | a),
            "PUT with StatementId": await client.put("/xapi/statements", params={"StatementId": good["id"]},
                                                     json=good, headers=V1 | a),
            "an unknown parameter": await client.get("/xapi/statements", params={"foo": "bar"}, headers=V1 | a),
            "statementId and verb": await client.get("/xapi/statements", params={
                "statementId": good["id"], "verb": ADL + "attended"}, headers=V1 | a),
            "form data": await client.post("/xapi/statements", data={"statement": json.dumps(good)},
                                           headers=V1 | a),
            "attachment data": await client.post("/xapi/statements", content=multipart(
                statement_part, "Content-Type: text/plain\r\nX-Experience-API-Hash: ab\r\n\r\nhello"),
                headers=V1 | a | {"Content-Type": f"multipart/mixed; boundary={boundary}"}),
        }
        kept_after_refusals = await count(dsn)
        multipart_alone = await client.post("/xapi/statements", content=multipart(statement_part),
                                            headers=V1 | a | {"Content-Type": f"multipart/mixed; boundary={boundary}"})
        no_key = await client.get("/xapi/statements", headers=V2)
    for case, r in refused.items():
        assert r.status_code == 400, f"{case}: {r.status_code} {r.text}"
        assert r.headers["x-experience-api-version"] == "1.0.3", case
    assert "statement[1].object.objectType" in refused["one invalid in a batch"].json()["detail"]
    assert "x-experience-api-consistent-through" in refused["an unknown parameter"].headers
    assert kept_after_refusals == 0
    assert multipart_alone.status_code == 200 and await count(dsn) == 1
    assert no_key.status_code == 401 and no_key.headers["x-experience-api-version"] == "2.0.0"


async def test_an_id_is_the_lrs_s_a_centre_cannot_answer_for_another_s_and_head_is_get_without_a_body(stack):
    app, dsn = stack
    keys = await make_keys(dsn)
    a, b = {"Authorization": f"Bearer {keys['centre_a']}"}, {"Authorization": f"Bearer {keys['centre_b']}"}
    mine = said(ANNE, "attended", activity(SQL))
    async with running(app) as client:
        first = await client.post("/xapi/statements", json=[mine], headers=V1 | a)
        again = await client.post("/xapi/statements", json=[mine], headers=V1 | a)
        theirs = await client.post("/xapi/statements", json=[mine], headers=V1 | b)  # the very same statement
        put_upper = await client.put("/xapi/statements", params={"statementId": mine["id"].upper()},
                                     json=mine, headers=V1 | a)
        seen_by_b = await client.get("/xapi/statements", params={"statementId": mine["id"]}, headers=V1 | b)
        got = await client.get("/xapi/statements", params={"statementId": mine["id"]}, headers=V1 | a)
        head = await client.head("/xapi/statements", params={"statementId": mine["id"]}, headers=V1 | a)
        about = await client.head("/xapi/about", headers=V1)
    assert first.status_code == again.status_code == 200 and put_upper.status_code == 204
    # Centre B is never told its statement is kept when it is centre A's, nor shown A's.
    assert theirs.status_code == 409 and seen_by_b.status_code == 404
    assert head.status_code == 200 and head.content == b"" and head.headers["x-experience-api-version"]
    assert head.headers["content-type"] == got.headers["content-type"]
    assert about.status_code == 200 and about.content == b""
