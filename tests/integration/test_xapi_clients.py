"""Issue 16: an LMS's xAPI client library, one no one here wrote, against the LRS door over a real
port with HTTP Basic (the key's id and the key), as a centre would point it: ADL's TinCanPython.
Each call concludes what really happened, and the facts say the same."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import tincan

from services.progress.app import create_app
from services.progress.config import ProgressSettings
from tests.integration import factories as f
from tests.integration.helpers import eventually, publish, running
from tests.integration.test_access import CENTRE_A, key_id_of, make_keys
from tests.integration.test_progress_imports import serving

pytestmark = pytest.mark.integration
ADL = "http://adlnet.gov/expapi/verbs/"
PROGRAMME_ID = "https://parcours.example/xapi/programme_id"


def statement(application, programme, verb: str, at: str, course: bool = False, hours: str | None = None,
              statement_id: str | None = None):
    definition = {"type": "http://adlnet.gov/expapi/activities/course"} if course else {"name": {"fr-FR": "SQL"}}
    body = {"actor": {"objectType": "Agent", "account": {"homePage": "https://lms.example", "name": str(application)}},
            "verb": {"id": ADL + verb}, "timestamp": at,
            "object": {"objectType": "Activity", "id": "https://lms.example/course", "definition": definition},
            "context": {"extensions": {PROGRAMME_ID: str(programme)}}}
    if hours:
        body["result"] = {"duration": hours}
    if statement_id:
        body["id"] = statement_id
    return tincan.Statement(body)


@pytest.fixture
def stack(new_database, kafka, monkeypatch):
    monkeypatch.setenv("PARCOURS_AUTH_REQUIRED", "true")
    dsn = new_database("services.progress")
    return create_app(ProgressSettings(database_url=dsn, kafka_bootstrap_servers=kafka, auth_required=True,
                                       consumer_batch_timeout_ms=50)), dsn


async def test_tincanpython_sends_one_statement_a_batch_the_same_twice_and_one_without_id(stack, kafka):
    app, dsn = stack
    keys = await make_keys(dsn)
    key_id = await key_id_of(dsn, "centre_a")
    learner, programme, application = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    programme_event = f.programme(programme)
    programme_event = programme_event.model_copy(update={"data": programme_event.data.model_copy(
        update={"centre_id": CENTRE_A})})
    async with running(app) as client, serving(app) as url:
        await publish(kafka, [programme_event, f.admitted(learner, programme, application)])

        async def enrolled():
            r = await client.get(f"/enrolments/{application}", headers={"Authorization": f"Bearer {keys['admin']}"})
            return r.status_code == 200
        await eventually(enrolled)
        lrs = tincan.RemoteLRS(endpoint=url + "/xapi/", version="1.0.3", username=key_id,
                               password=keys["centre_a"])
        started = statement(application, programme, "initialized", "2020-03-02T09:00:00+01:00", course=True,
                            statement_id=str(uuid.uuid4()))
        one = await asyncio.to_thread(lrs.save_statement, started)  # an id: PUT ?statementId=
        twice = await asyncio.to_thread(lrs.save_statement, started)
        batch = [statement(application, programme, "attended", f"2020-03-{day:02d}T17:00:00+01:00", hours="PT1H")
                 for day in range(3, 28) for _ in range(2)]
        many = await asyncio.to_thread(lrs.save_statements, batch)  # POST a list
        no_id = statement(application, programme, "attended", "2020-03-30T17:00:00+02:00", hours="PT2H")
        without = await asyncio.to_thread(lrs.save_statement, no_id)  # POST, the LRS names it
        back = await asyncio.to_thread(lrs.retrieve_statement, str(no_id.id))
        wrong = tincan.RemoteLRS(endpoint=url + "/xapi/", version="1.0.3", username=str(uuid.uuid4()),
                                 password=keys["centre_a"])
        refused = await asyncio.to_thread(wrong.save_statement, statement(
            application, programme, "attended", "2020-03-31T17:00:00+02:00", hours="PT1H"))
        view = (await client.get(f"/enrolments/{application}",
                                 headers={"Authorization": f"Bearer {keys['admin']}"})).json()
    assert one.success and twice.success and one.response.status == 204
    assert many.success and len({str(s.id) for s in many.content}) == 50
    assert without.success and no_id.id is not None and back.success and str(back.content.id) == str(no_id.id)
    assert not refused.success and refused.response.status == 401
    # What the client concluded is what happened: one start, 50 hours and 2 more, nothing twice.
    assert view["state"] == "started" and view["attendance_hours"] == 52.0
