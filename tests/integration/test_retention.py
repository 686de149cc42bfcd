"""Contact details are purged once the retention period after the learner's last follow-up has
passed; intake learns of closed follow-ups from outcomes' `followup.closed` events."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from services.intake import service
from services.intake.app import create_app
from services.intake.config import IntakeSettings
from shared.contracts import FollowupClosed
from tests.integration.helpers import eventually, publish, running
from tests.integration.test_intake import application_body, programme_body

pytestmark = pytest.mark.integration


def closed(learner, programme, on: date):
    now = datetime.now(UTC)
    return FollowupClosed.build(event_id=uuid.uuid4(), occurred_at=now, recorded_at=now, producer="outcomes",
                                learner_id=learner, programme_id=programme,
                                data={"status": "recorded", "closed_on": on})


@pytest.fixture
def app(new_database, kafka):
    return create_app(IntakeSettings(database_url=new_database("services.intake"), kafka_bootstrap_servers=kafka,
                                     consumer_batch_timeout_ms=50))


async def test_contact_details_are_purged_after_the_retention_period(app, kafka):
    async with running(app) as client:
        programme = (await client.post("/programmes", json=programme_body())).json()["programme_id"]
        old = (await client.post("/applications", json=application_body(programme, "old@example.org"))).json()
        recent = (await client.post("/applications", json=application_body(programme, "recent@example.org"))).json()
        still = (await client.post("/applications", json=application_body(programme, "open@example.org"))).json()
        await publish(kafka, [closed(uuid.UUID(old["learner_id"]), uuid.UUID(programme), date(2021, 4, 2)),
                              closed(uuid.UUID(recent["learner_id"]), uuid.UUID(programme), date(2026, 10, 1))])
        pool = app.state.runtime.pool

        async def closures():
            return await pool.fetchval("SELECT count(*) FROM followup_closures") == 2
        await eventually(closures)
        purged = await service.purge_expired_contacts(pool, 24, today=date(2026, 11, 23))
        again = await service.purge_expired_contacts(pool, 24, today=date(2026, 11, 23))
        contacts = {name: (await client.get(f"/learners/{a['learner_id']}/contact")).status_code
                    for name, a in (("old", old), ("recent", recent), ("open", still))}
        application = (await client.get(f"/applications/{old['application_id']}")).json()
        birth_years = {name: await pool.fetchval("SELECT birth_year FROM candidates WHERE learner_id = $1",
                                                 uuid.UUID(a["learner_id"]))
                       for name, a in (("old", old), ("recent", recent))}
    assert (purged, again) == (1, 0)
    # Finding 4 of the security review: the purge kept the birth year.
    assert birth_years["old"] == 0 and birth_years["recent"] > 1900
    assert contacts == {"old": 404, "recent": 200, "open": 200}
    assert application["status"] == "submitted"  # the anonymous facts stay
