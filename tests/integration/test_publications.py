"""Published reports (issue 17): frozen as published, byte for byte with their hash, while the
figures computed now move with late facts and corrections, and the difference explained."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from tests.integration import factories as f
from tests.integration.helpers import publish, running
from tests.integration.test_followup_work import OUTCOME, app, journey, settle  # noqa: F401

pytestmark = pytest.mark.integration


async def test_a_published_report_stays_as_published_and_the_changes_since_are_explained(app, kafka):  # noqa: F811
    programme = uuid.uuid4()
    learners = [uuid.uuid4() for _ in range(30)]
    events = [f.programme(programme), *(e for learner in learners for e in journey(learner, programme))]
    late = uuid.uuid4()
    async with running(app) as client:
        await publish(kafka, events)
        await settle(client, len(events))
        made = await client.post("/publications", json={"year": 2020})
        report_id = made.json()["report_id"]
        first = await client.get(f"/publications/{report_id}")
        # After the publication: a late exit of 2020, an exit corrected, an outcome recorded.
        more = [*journey(late, programme, reason="dropped_out"),
                f.corrected(learners[0], programme, exited_at="2020-10-02T17:00:00", exit_reason="not_certified")]
        await publish(kafka, more)
        await settle(client, len(events) + len(more))
        recorded = await client.post(f"/followups/{learners[1]}/{programme}/outcome", json=OUTCOME)
        again = await client.get(f"/publications/{report_id}")
        now = (await client.get("/key-figures", params={"year": 2020, "suppress": 20})).json()
        then = (await client.get("/key-figures", params={"year": 2020, "suppress": 20,
                                                         "as_of": made.json()["published_at"]})).json()
        too_early = await client.get("/key-figures", params={"year": 2020, "as_of": "2000-01-01T00:00:00Z"})
        future = await client.get("/key-figures", params={"year": 2020, "as_of": "2999-01-01T00:00:00Z"})
        naive = await client.get("/key-figures", params={"year": 2020, "as_of": "2021-01-01T00:00:00"})
        changes = (await client.get(f"/publications/{report_id}/changes")).json()
        listed = (await client.get("/publications", params={"year": 2020})).json()["items"]
        unknown = await client.get(f"/publications/{uuid.uuid4()}")
        refused = await client.post("/publications", json={"year": 2020, "suppress": 1})

    assert made.status_code == 201 and recorded.status_code == 201
    assert first.content == again.content  # byte for byte
    digest = hashlib.sha256(first.content).hexdigest()
    assert digest == made.json()["sha256"] == first.headers["x-content-sha256"]
    published = first.json()
    assert published["publication"]["report_id"] == report_id and published["suppressed_under"] == 20
    assert published["counts"]["applications_submitted"] == 30 and now["counts"]["applications_submitted"] == 31
    changed = {c["figure"]: (c["published"], c["now"]) for c in changes["changed"]}
    assert changed["counts.applications_submitted"] == (30, 31)
    assert changed["counts.exits_by_reason.certified"][0] == 30  # now 29, or withheld beside the small ones
    assert changes["since"]["events_applied"]["training.corrected"] == 1
    assert changes["since"]["events_applied"]["training.exited"] == 1
    assert changes["since"]["outcomes_recorded"] == 1 and changes["since"]["outcomes_corrected"] == 0
    assert [p["report_id"] for p in listed] == [report_id]
    # As known at the moment of the publication: the late exit, the correction and the outcome
    # recorded since are ignored, and the figures are the published ones.
    published.pop("publication")
    assert then.pop("as_of") == made.json()["published_at"].replace("Z", "+00:00")
    assert then == published
    assert too_early.status_code == future.status_code == naive.status_code == 422
    assert too_early.json()["code"] == "as_of_out_of_range"
    assert unknown.status_code == 404 and refused.status_code == 422
