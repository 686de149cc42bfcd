"""Security review, finding 3: matching one person across centres stays inside intake. A centre
sees only the ids of its own applications, never changes the contact details another centre
recorded, and names its learners' enrolments in progress without the network-wide id; follow-up
staff read the details of the follow-up's own application, only while it is open (finding 6)."""

# ruff: noqa: F811 -- `stacks` is test_access's fixture, imported and then named by the tests.
from __future__ import annotations

import uuid
from datetime import date

import asyncpg
import pytest

from tests.integration import factories as f
from tests.integration.helpers import eventually, publish, running
from tests.integration.test_access import (  # noqa: F401
    CENTRE_A,
    CENTRE_B,
    PROGRAMME_A,
    application_to,
    header,
    leave_training,
    make_keys,
    stacks,
)
from tests.integration.test_retention import closed

pytestmark = pytest.mark.integration
PROGRAMME_B = PROGRAMME_A | {"centre_id": str(CENTRE_B), "centre_name": "Centre B", "title": "Data"}


def applying(programme_id: str, first_name: str, phone: str) -> dict:
    body = application_to(programme_id, "ada.match@example.org")
    return body | {"candidate": body["candidate"] | {"first_name": first_name, "phone": phone}}


async def test_security_3_a_centre_learns_nothing_of_a_person_known_elsewhere_and_changes_nothing(stacks, kafka):
    intake, dsn, _ = stacks["intake"]
    keys = await make_keys(dsn)
    admin, a, b, staff = (header(keys[k]) for k in ("admin", "centre_a", "centre_b", "followup"))
    async with running(intake) as client:
        programme_a = (await client.post("/programmes", json=PROGRAMME_A, headers=admin)).json()["programme_id"]
        programme_b = (await client.post("/programmes", json=PROGRAMME_B, headers=admin)).json()["programme_id"]
        first = await client.post("/applications", json=applying(programme_a, "Ada", "0601020304"), headers=a)
        # Centre B applies for the same person (same e-mail), with other details.
        second = await client.post("/applications", json=applying(programme_b, "Adeline", "0699999999"), headers=b)
        batch = await client.post("/applications/batch", headers=b,
                                  json={"items": [applying(programme_b, "Adeline", "0699999999")]})
        decided = await client.post(f"/applications/{second.json()['application_id']}/decision", headers=b,
                                    json={"decision": "admitted", "decided_at": "2020-02-01T09:00:00Z"})
        listed = (await client.get("/applications", headers=b)).json()["items"]
        seen_by_admin = [(await client.get(f"/applications/{r.json()['application_id']}", headers=admin)).json()
                         for r in (first, second)]
        learner = seen_by_admin[0]["learner_id"]
        await leave_training(kafka, dsn, learner, programme_a, first.json()["application_id"])
        await leave_training(kafka, dsn, learner, programme_b, second.json()["application_id"])
        contact_a = await client.get(f"/learners/{learner}/contact", headers=staff,
                                     params={"enrolment_id": first.json()["application_id"]})
        contact_b = await client.get(f"/learners/{learner}/contact", headers=staff,
                                     params={"enrolment_id": second.json()["application_id"]})

    assert (first.status_code, second.status_code) == (201, 201)
    # What the 201 of the second centre used to give away: the id keying every event of the person.
    answers = [first.json(), second.json(), batch.json()["results"][0], decided.json(), *listed]
    assert [x["learner_id"] for x in answers] == [None] * len(answers)
    # Matching still counts one person across the network.
    assert seen_by_admin[0]["learner_id"] == seen_by_admin[1]["learner_id"] is not None
    # Each follow-up calls with the details its own centre recorded; neither overwrote the other.
    assert (contact_a.json()["first_name"], contact_a.json()["phone"]) == ("Ada", "+33601020304")
    assert (contact_b.json()["first_name"], contact_b.json()["phone"]) == ("Adeline", "+33699999999")
    assert contact_b.json()["application_id"] == second.json()["application_id"]


async def test_security_6_contact_details_are_read_only_while_a_follow_up_is_open(stacks, kafka):
    intake, dsn, _ = stacks["intake"]
    keys = await make_keys(dsn)
    admin, a, staff = header(keys["admin"]), header(keys["centre_a"]), header(keys["followup"])
    async with running(intake) as client:
        programme = (await client.post("/programmes", json=PROGRAMME_A, headers=admin)).json()["programme_id"]
        never = (await client.post("/applications", json=application_to(programme, "never@example.org"),
                                   headers=a)).json()
        left = (await client.post("/applications", json=application_to(programme, "left@example.org"),
                                  headers=a)).json()
        learners = {name: (await client.get(f"/applications/{x['application_id']}", headers=admin)).json()["learner_id"]
                    for name, x in (("never", never), ("left", left))}

        async def read(name: str, who=staff) -> int:
            return (await client.get(f"/learners/{learners[name]}/contact", headers=who)).status_code

        before_exit = await read("left")
        await leave_training(kafka, dsn, learners["left"], programme, left["application_id"])
        while_open = await read("left")
        # Outcomes closes the follow-up (an outcome recorded): the details are no longer read.
        await publish(kafka, [closed(uuid.UUID(learners["left"]), uuid.UUID(programme), date(2021, 4, 10))])

        async def closed_here():
            conn = await asyncpg.connect(dsn)
            try:
                return await conn.fetchval("SELECT count(*) FROM followup_closures") == 1
            finally:
                await conn.close()
        await eventually(closed_here)
        after_close, never_admitted, by_admin = await read("left"), await read("never"), await read("never", admin)
        reads = (await client.get("/contact-reads", headers=admin)).json()["items"]

    assert (before_exit, while_open, after_close) == (404, 200, 404)
    assert never_admitted == 404  # a candidate never trained: nothing for follow-up staff
    assert by_admin == 200  # an administrator answering the person's own request
    assert [(r["learner_id"], r["role"]) for r in reads] == [
        (learners["never"], "admin"), (learners["left"], "followup")]


async def test_security_3_a_centre_posts_facts_naming_its_application_without_the_learner_id(stacks, kafka):
    progress, dsn, _ = stacks["progress"]
    keys = await make_keys(dsn)
    learner, programme_a, programme_b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    await publish(kafka, [
        f.programme(programme_a).model_copy(update={"data": f.programme(programme_a).data.model_copy(
            update={"centre_id": CENTRE_A})}),
        f.programme(programme_b).model_copy(update={"data": f.programme(programme_b).data.model_copy(
            update={"centre_id": CENTRE_B})}),
        f.admitted(learner, programme_a, mine), f.admitted(learner, programme_b, theirs)])
    a, b = header(keys["centre_a"]), header(keys["centre_b"])
    async with running(progress) as client:
        async def enrolled():
            return (await client.get(f"/enrolments/{theirs}", headers=b)).status_code == 200
        await eventually(enrolled)
        started = {"application_id": str(mine), "programme_id": str(programme_a), "type": "started",
                   "occurred_at": "2020-03-02T09:00:00Z"}
        posted = await client.post("/facts", json=started, headers=a)
        csv = (f"application_id;programme_id;type;occurred_at;hours\n"
               f"{mine};{programme_a};attendance;06/03/2020 17:30;7,5\n")
        imported = await client.post("/facts/csv", content=csv, headers={"content-type": "text/csv", **a})
        # Another centre's enrolment, named with this centre's programme, and an id nobody has.
        foreign = await client.post("/facts", json=started | {"application_id": str(theirs)}, headers=a)
        unknown = await client.post("/facts", json=started | {"application_id": str(uuid.uuid4())}, headers=a)
        view = await client.get(f"/enrolments/{mine}", headers=a)
        not_theirs = await client.get(f"/enrolments/{theirs}", headers=a)
        nameless = await client.post("/facts", json={k: v for k, v in started.items() if k != "application_id"},
                                     headers=a)

    assert posted.status_code == 201 and posted.json()["enrolment_id"] == str(mine)
    assert imported.json()["applied"] == 1, imported.text
    # The same refusal whether the enrolment exists elsewhere or not at all: nothing is revealed.
    assert foreign.status_code == unknown.status_code == 422
    assert foreign.json()["code"] == unknown.json()["code"] == "not_admitted"
    assert view.json()["learner_id"] is None and view.json()["state"] == "started"
    assert [x["type"] for x in view.json()["facts"]] == ["started", "attendance"]
    assert not_theirs.status_code == 403
    assert nameless.status_code == 422 and "enrolment_id or application_id" in nameless.text
