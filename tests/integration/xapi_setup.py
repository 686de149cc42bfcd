"""What the tests of the LRS door with real xAPI clients share: a progress service that requires keys,
a learner admitted to one of centre A's programmes, and the statements an LMS sends about her."""

from __future__ import annotations

import uuid

import pytest

from services.progress.app import create_app
from services.progress.config import ProgressSettings
from tests.integration import factories as f
from tests.integration.helpers import eventually, publish
from tests.integration.test_access import CENTRE_A, key_id_of, make_keys

ADL = "http://adlnet.gov/expapi/verbs/"
PROGRAMME_ID = "https://parcours.example/xapi/programme_id"
VERSION = {"X-Experience-API-Version": "1.0.3"}


@pytest.fixture
def stack(new_database, kafka, monkeypatch):
    monkeypatch.setenv("PARCOURS_AUTH_REQUIRED", "true")
    dsn = new_database("services.progress")
    return create_app(ProgressSettings(database_url=dsn, kafka_bootstrap_servers=kafka, auth_required=True,
                                       consumer_batch_timeout_ms=50)), dsn


async def admitted_to_centre_a(client, kafka, dsn) -> tuple[dict, str, uuid.UUID, uuid.UUID]:
    """(the keys, centre A's key id, the programme, the admitted application), once centre A's key
    reaches the enrolment: the admission and the programme's centre both known to progress."""
    keys = await make_keys(dsn)
    programme, application = uuid.uuid4(), uuid.uuid4()
    event = f.programme(programme)
    event = event.model_copy(update={"data": event.data.model_copy(update={"centre_id": CENTRE_A})})
    await publish(kafka, [event, f.admitted(uuid.uuid4(), programme, application)])

    async def reached():
        r = await client.get(f"/enrolments/{application}", headers={"Authorization": f"Bearer {keys['centre_a']}"})
        return r.status_code == 200
    await eventually(reached)
    return keys, await key_id_of(dsn, "centre_a"), programme, application


def statement(application, programme, verb: str, at: str, course: bool = False, hours: str | None = None,
              statement_id: str | None = None) -> dict:
    definition = {"type": "http://adlnet.gov/expapi/activities/course"} if course else {"name": {"fr-FR": "SQL"}}
    body = {"actor": {"objectType": "Agent", "account": {"homePage": "https://lms.example", "name": str(application)}},
            "verb": {"id": ADL + verb}, "timestamp": at,
            "object": {"objectType": "Activity", "id": "https://lms.example/course", "definition": definition},
            "context": {"extensions": {PROGRAMME_ID: str(programme)}}}
    if hours:
        body["result"] = {"duration": hours}
    if statement_id:
        body["id"] = statement_id
    return body


def scenario(application, programme) -> dict:
    """The statements of the scenario: 1 start, 50 hours in one batch, 2 hours without id (52 h)."""
    return {
        "started": statement(application, programme, "initialized", "2020-03-02T09:00:00+01:00", course=True,
                             statement_id=str(uuid.uuid4())),
        "batch": [statement(application, programme, "attended", f"2020-03-{day:02d}T17:00:00+01:00", hours="PT1H")
                  for day in range(3, 28) for _ in range(2)],
        "no_id": statement(application, programme, "attended", "2020-03-30T17:00:00+02:00", hours="PT2H"),
        "refused": statement(application, programme, "attended", "2020-03-31T17:00:00+02:00", hours="PT1H"),
    }
