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


async def test_contact_details_are_purged_after_the_retention_period_each_centres_copy_on_its_own(app, kafka):
    """Each application's copy of the contact details goes on its own centre's activity (security
    review, finding 3: applying again for a person, another centre kept her details forever)."""
    async with running(app) as client:
        programme = (await client.post("/programmes", json=programme_body())).json()["programme_id"]
        elsewhere = (await client.post("/programmes", json=programme_body())).json()["programme_id"]

        async def apply(email: str, where: str = programme, at: str = "2020-01-15T10:00:00+01:00",
                        decision: str | None = "admitted", decided_at: str = "2020-02-01T09:00:00Z") -> dict:
            body = application_body(where, email) | {"submitted_at": at}
            application = (await client.post("/applications", json=body)).json()
            if decision:
                r = await client.post(f"/applications/{application['application_id']}/decision",
                                      json={"decision": decision, "decided_at": decided_at, "reason": "not_eligible"
                                            if decision == "rejected" else None})
                assert r.status_code == 200, r.text
            return application
        old = await apply("old@example.org")
        again = await apply("old@example.org", elsewhere, "2026-10-01T10:00:00+02:00", None)  # another centre, now
        alone = await apply("alone@example.org")
        recent = await apply("recent@example.org")
        rejected = await apply("rejected@example.org", decision="rejected")
        still = await apply("open@example.org", decision=None)
        learners = {name: uuid.UUID(x["learner_id"]) for name, x in
                    (("old", old), ("alone", alone), ("recent", recent))}
        await publish(kafka, [closed(learners["old"], uuid.UUID(programme), date(2021, 4, 2)),
                              closed(learners["alone"], uuid.UUID(programme), date(2021, 4, 2)),
                              closed(learners["recent"], uuid.UUID(programme), date(2026, 10, 1))])
        pool = app.state.runtime.pool

        async def closures():
            return await pool.fetchval("SELECT count(*) FROM followup_closures") == 3
        await eventually(closures)
        purged = await service.purge_expired_contacts(pool, 24, today=date(2026, 11, 23))
        again_purged = await service.purge_expired_contacts(pool, 24, today=date(2026, 11, 23))
        kept = {r["application_id"] for r in await pool.fetch(
            "SELECT application_id FROM applications WHERE contact_purged_at IS NULL AND email IS NOT NULL")}
        contact = (await client.get(f"/learners/{learners['old']}/contact")).json()
        application = (await client.get(f"/applications/{old['application_id']}")).json()
        birth_years = {name: await pool.fetchval("SELECT birth_year FROM candidates WHERE learner_id = $1", learner)
                       for name, learner in learners.items()}
    assert (purged, again_purged) == (3, 0)  # old's copy, alone's, and the rejected one
    assert kept == {uuid.UUID(x["application_id"]) for x in (again, recent, still)}
    # The other centre's copy stays, its own: it is the one an administrator now finds.
    assert contact["application_id"] == again["application_id"]
    # The candidate (her e-mail, her birth year, finding 4) goes with the last copy of her details.
    assert birth_years == {"old": 1998, "alone": 0, "recent": 1998}
    assert rejected["status"] == "submitted" and application["status"] == "admitted"  # the anonymous facts stay
