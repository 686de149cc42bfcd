"""Issue 16: an LMS's xAPI client library, one no one here wrote, against the LRS door over a real
port with HTTP Basic (the key's id and the key), as a centre would point it: ADL's TinCanPython.
Each call concludes what really happened, and the facts say the same."""

# ruff: noqa: F811 -- `stack` is xapi_setup's fixture, imported and then named by the tests.
from __future__ import annotations

import asyncio
import uuid

import pytest
import tincan

from tests.integration.helpers import running
from tests.integration.test_progress_imports import serving
from tests.integration.xapi_setup import admitted_to_centre_a, stack  # noqa: F401
from tests.integration.xapi_setup import statement as xapi_statement

pytestmark = pytest.mark.integration


def statement(*args, **kwargs) -> tincan.Statement:
    return tincan.Statement(xapi_statement(*args, **kwargs))


async def test_tincanpython_sends_one_statement_a_batch_the_same_twice_and_one_without_id(stack, kafka):
    app, dsn = stack
    async with running(app) as client, serving(app) as url:
        keys, key_id, programme, application = await admitted_to_centre_a(client, kafka, dsn)
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
